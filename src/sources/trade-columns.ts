/**
 * A live batch as columns, to cross a thread boundary: trades as typed arrays (one per field)
 * whose buffers are transferred, not copied, with their few distinct strings (symbols,
 * conditions, sources) as codes into small tables. Everything else of the batch (messages,
 * rejects, events, bars, raw responses) is plain data the structured clone copies.
 *
 * A trade's payload (its provider record, kept for the quarantine) crosses as where it is: the
 * index of its message in `messages` and the element's offsets, from which the receiving side
 * makes the same lazy payload the scanner made. A payload of any other kind crosses as its text.
 */
import { Codes } from '../core/codes.ts';
import type { CandidateTrade } from '../core/records.ts';
import { payloadText } from '../core/records.ts';
import { ElementPayload } from './finnhub/finnhub-scan.ts';
import type { LiveBatch } from './source.ts';

export interface TradeColumns {
  n: number;
  ts: Float64Array;
  price: Float64Array;
  size: Float64Array;
  receivedAt: Float64Array;
  /** Codes into `symbols`, `conditions` and `sources`. */
  symbol: Int32Array;
  condition: Int32Array;
  source: Int32Array;
  symbols: string[];
  conditions: string[];
  sources: string[];
  /** Provider trade ids, only when some trade has one. */
  tradeIds: string[] | null;
  /** Per trade: the index of the message its payload is an element of (−1: see `payloads`). */
  message: Int32Array;
  start: Int32Array;
  end: Int32Array;
  /** Payload texts of trades whose payload is not an element of one of the messages ('' if absent). */
  payloads: [number, string][];
}

/** A live batch whose trades are columns. */
export interface ColumnarLiveBatch extends Omit<LiveBatch, 'trades'> {
  trades: TradeColumns;
}

/**
 * The batch with its trades as columns, and the buffers to transfer. `starts[k]`: the index of the
 * first trade of `batch.messages[k]` (the trades of message k are starts[k] up to starts[k + 1]),
 * so an element payload is known by its message's index.
 */
export function toColumns(
  batch: LiveBatch,
  starts: readonly number[],
): { batch: ColumnarLiveBatch; transfer: ArrayBuffer[] } {
  const trades = batch.trades;
  const n = trades.length;
  const ts = new Float64Array(n);
  const price = new Float64Array(n);
  const size = new Float64Array(n);
  const receivedAt = new Float64Array(n);
  const symbol = new Int32Array(n);
  const condition = new Int32Array(n);
  const source = new Int32Array(n);
  const message = new Int32Array(n);
  const start = new Int32Array(n);
  const end = new Int32Array(n);
  const symbols = new Codes();
  const conditions = new Codes();
  const sources = new Codes();
  let tradeIds: string[] | null = null;
  const payloads: [number, string][] = [];
  let k = -1;
  for (let i = 0; i < n; i++) {
    while (k + 1 < starts.length && starts[k + 1]! <= i) k++;
    const t = trades[i]!;
    ts[i] = t.ts;
    price[i] = t.price;
    size[i] = t.size;
    receivedAt[i] = t.receivedAt;
    symbol[i] = symbols.code(t.symbol);
    condition[i] = conditions.code(t.conditions);
    source[i] = sources.code(t.source);
    if (t.tradeId !== '') {
      tradeIds ??= new Array<string>(n).fill('');
      tradeIds[i] = t.tradeId;
    }
    const p = t.payload;
    if (p === '') {
      // No payload (a validated trade's is let go): nothing to carry.
      message[i] = -1;
    } else if (p instanceof ElementPayload && batch.messages[k]?.text === p.message) {
      message[i] = k;
      start[i] = p.start;
      end[i] = p.end;
    } else {
      message[i] = -1;
      payloads.push([i, payloadText(p)]);
    }
  }
  const columns: TradeColumns = {
    n,
    ts,
    price,
    size,
    receivedAt,
    symbol,
    condition,
    source,
    symbols: symbols.values,
    conditions: conditions.values,
    sources: sources.values,
    tradeIds,
    message,
    start,
    end,
    payloads,
  };
  const transfer = Object.values(columns)
    .filter((v) => ArrayBuffer.isView(v))
    .map((a) => (a as Float64Array | Int32Array).buffer as ArrayBuffer);
  return { batch: { ...batch, trades: columns }, transfer };
}

/** The batch with its trades as records again, equal to the one `toColumns` was given. */
export function fromColumns(batch: ColumnarLiveBatch): LiveBatch {
  const c = batch.trades;
  const texts = new Map(c.payloads);
  const trades = new Array<CandidateTrade>(c.n);
  const messages = batch.messages;
  for (let i = 0; i < c.n; i++) {
    const m = c.message[i]!;
    trades[i] = {
      symbol: c.symbols[c.symbol[i]!]!,
      ts: c.ts[i]!,
      price: c.price[i]!,
      size: c.size[i]!,
      conditions: c.conditions[c.condition[i]!]!,
      tradeId: c.tradeIds?.[i] ?? '',
      source: c.sources[c.source[i]!]!,
      payload:
        m >= 0 ? new ElementPayload(messages[m]!.text, c.start[i]!, c.end[i]!) : texts.get(i)!,
      receivedAt: c.receivedAt[i]!,
    };
  }
  return { ...batch, trades };
}
