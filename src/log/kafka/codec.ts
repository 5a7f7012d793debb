/**
 * How records become bytes on a Kafka topic and back. JSON is the default;
 * a decode that throws marks the record as poison (ConsumeOptions.onPoison).
 */
export interface Codec {
  readonly name: string;
  encode(topic: string, record: unknown): Buffer;
  decode(topic: string, bytes: Buffer | undefined): unknown;
}

const isLazy = (p: unknown): p is { text(): string } =>
  p !== null && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'function';

/**
 * A lazily built payload (CandidateTrade.payload) travels as its text, also
 * inside a chunk of trades ({ symbol, trades }).
 */
function withPayloadText(record: unknown): unknown {
  const r = record as { payload?: unknown; trades?: unknown } | null;
  if (
    r &&
    Array.isArray(r.trades) &&
    r.trades.some((t) => isLazy((t as { payload?: unknown }).payload))
  ) {
    return { ...r, trades: r.trades.map(withPayloadText) };
  }
  if (r && isLazy(r.payload)) return { ...r, payload: r.payload.text() };
  return record;
}

export const jsonCodec: Codec = {
  name: 'json',
  encode: (_topic, record) => Buffer.from(JSON.stringify(withPayloadText(record))),
  decode: (_topic, bytes) => {
    if (!bytes || bytes.length === 0) throw new Error('empty message');
    const text = bytes.toString('utf8');
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new Error(`not JSON: ${(err as Error).message}`);
    }
  },
};
