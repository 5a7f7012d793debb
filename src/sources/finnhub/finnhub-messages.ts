/**
 * Finnhub's WebSocket messages: `{"type":"trade","data":[{s,p,t,v,c}]}`,
 * `{"type":"ping"}` and `{"type":"error","msg":…}`. The simulator and the
 * replay source speak the same format, so one parser serves all three.
 */
import {
  capPayload,
  JsonLimitError,
  MAX_MESSAGE_BYTES,
  parseJsonWithin,
} from '../../core/limits.ts';
import type { CandidateTrade, LazyPayload } from '../../core/records.ts';
import type { LiveBatch } from '../source.ts';
import { scanTradeMessage } from './finnhub-scan.ts';

/** One element of a trade message, kept as parsed; its text is built only for quarantine. */
class TradePayload implements LazyPayload {
  readonly #value: unknown;
  constructor(value: unknown) {
    this.#value = value;
  }
  text(): string {
    return JSON.stringify(this.#value);
  }
}

interface FinnhubTrade {
  s?: unknown;
  p?: unknown;
  t?: unknown;
  v?: unknown;
  c?: unknown;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number.NaN);

/**
 * Parses one text message into `out`: trades, a parse-stage reject for a
 * message that is not a Finnhub message, an `error` event for an error
 * message. Pings are ignored. Returns the message type.
 */
export function parseFinnhubMessage(
  text: string,
  receivedAt: number,
  source: string,
  out: LiveBatch,
): string {
  if (text.length > MAX_MESSAGE_BYTES) {
    out.rejects.push({
      stage: 'parse',
      source,
      symbol: null,
      rule: 'oversized_message',
      message: `message of ${text.length} chars; at most ${MAX_MESSAGE_BYTES}`,
      payload: capPayload(text),
      receivedAt,
    });
    return 'malformed';
  }
  // The common case without JSON.parse; anything else through it.
  if (scanTradeMessage(text, receivedAt, source, out.trades)) return 'trade';
  return parseFinnhubJson(text, receivedAt, source, out);
}

/** `parseFinnhubMessage` through JSON.parse alone: the reference for the scanner. */
export function parseFinnhubJson(
  text: string,
  receivedAt: number,
  source: string,
  out: LiveBatch,
): string {
  let msg: { type?: unknown; data?: unknown; msg?: unknown };
  try {
    // Within limits: a message nested thousands deep would overflow the stack of whatever
    // walks it later (the quarantine's JSON.stringify of a rejected element).
    msg = parseJsonWithin(text) as typeof msg;
  } catch (err) {
    out.rejects.push({
      stage: 'parse',
      source,
      symbol: null,
      rule: 'malformed_message',
      message: err instanceof JsonLimitError ? err.message : `not JSON: ${(err as Error).message}`,
      payload: capPayload(text),
      receivedAt,
    });
    return 'malformed';
  }
  const type = msg && typeof msg === 'object' ? msg.type : undefined;
  if (type === 'trade' && Array.isArray(msg.data)) {
    for (const d of msg.data as FinnhubTrade[]) {
      const trade: CandidateTrade = {
        symbol: typeof d?.s === 'string' ? d.s : '',
        ts: num(d?.t),
        price: num(d?.p),
        size: num(d?.v),
        conditions: Array.isArray(d?.c) ? d.c.join(',') : '',
        tradeId: '',
        source,
        payload: new TradePayload(d),
        receivedAt,
      };
      out.trades.push(trade);
    }
    return 'trade';
  }
  if (type === 'ping') return 'ping';
  if (type === 'error') {
    out.events.push({ kind: 'error', at: receivedAt, message: String(msg.msg ?? text) });
    return 'error';
  }
  out.rejects.push({
    stage: 'parse',
    source,
    symbol: null,
    rule: 'malformed_message',
    message:
      type === 'trade'
        ? 'trade message without a data array'
        : `unknown message type ${JSON.stringify(type)}`,
    payload: capPayload(text),
    receivedAt,
  });
  return 'unknown';
}
