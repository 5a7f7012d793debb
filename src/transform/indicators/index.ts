export { ema, sma } from './moving-averages.ts';
export { type Macd, macd, macdFrom, rsi } from './oscillators.ts';
export { atr, type Bands, bollinger, simpleReturn } from './volatility.ts';
