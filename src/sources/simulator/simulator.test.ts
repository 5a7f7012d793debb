import { describe, expect, it } from 'vitest';
import { TradingCalendar } from '../../calendar/calendar.ts';
import { XNYS } from '../../calendar/exchanges.ts';
import { simulate } from './simulator.ts';

describe('simulate with trading hours', () => {
  it('makes trades only while the exchange is open, and jumps over a closed weekend', () => {
    const nyse = new TradingCalendar(XNYS);
    const hours = {
      isOpen: (_s: string, ts: number) => nyse.isOpen(ts),
      nextOpen: (_s: string, ts: number) => nyse.nextSession(ts)!.open,
    };
    const gen = simulate({
      symbols: ['AAPL', 'MSFT'],
      tradesPerSecond: 20,
      startTs: Date.parse('2025-01-03T20:59:00Z'), // Friday, 15:59 New York
      hours,
    });
    const ts: number[] = [];
    for (let i = 0; i < 3_000; i++) {
      const m = gen.next().value!;
      for (const t of (JSON.parse(m.text) as { data: { t: number }[] }).data) ts.push(t.t);
    }
    expect(ts.every((t) => nyse.isOpen(t))).toBe(true);
    // The first minute is Friday's last; the rest is Monday 2025-01-06 from 14:30 UTC.
    expect(ts.some((t) => t < Date.parse('2025-01-03T21:00:00Z'))).toBe(true);
    const monday = ts.filter((t) => t >= Date.parse('2025-01-04T00:00:00Z'));
    expect(monday.length).toBeGreaterThan(0);
    expect(Math.min(...monday)).toBeGreaterThanOrEqual(Date.parse('2025-01-06T14:30:00Z'));
  });
});

describe('SimulatorSource', () => {
  it('says it runs, then that the market is closed (no trades) until the next open', async () => {
    const { SimulatorSource } = await import('./simulator-source.ts');
    const nextOpen = Date.now() + 3 * 86_400_000;
    const source = new SimulatorSource({
      speed: 'realtime',
      hours: { isOpen: (_s, ts) => ts >= nextOpen, nextOpen: () => nextOpen },
    });
    const stop = new AbortController();
    const events: string[] = [];
    let trades = 0;
    for await (const batch of source.live(['AAPL'], { signal: stop.signal })) {
      trades += batch.trades.length;
      for (const e of batch.events) {
        events.push(e.kind === 'market_closed' ? `closed until ${e.nextOpen}` : e.kind);
      }
      if (events.length >= 2) stop.abort();
    }
    expect(events).toEqual(['connected', `closed until ${nextOpen}`]);
    expect(trades).toBe(0);
  });

  it('starts each symbol from the given price', async () => {
    const { SimulatorSource } = await import('./simulator-source.ts');
    const source = new SimulatorSource({ speed: 'max', maxMessages: 50 });
    source.startFrom(async () => new Map([['AAPL', { price: 188.59, sigma: 0.25 }]]));
    const prices: number[] = [];
    for await (const batch of source.live(['AAPL']))
      for (const t of batch.trades) prices.push(t.price!);
    expect(prices.length).toBe(50);
    expect(Math.abs(prices[0]! - 188.59)).toBeLessThan(0.1);
    expect(prices.every((p) => p > 180 && p < 197)).toBe(true);
  });
});
