/**
 * How records become bytes on a Kafka topic and back. JSON is the default;
 * a decode that throws marks the record as poison (ConsumeOptions.onPoison).
 */
export interface Codec {
  readonly name: string;
  encode(topic: string, record: unknown): Buffer;
  decode(topic: string, bytes: Buffer | undefined): unknown;
}

/** A lazily built payload (CandidateTrade.payload) travels as its text. */
function withPayloadText(record: unknown): unknown {
  const p = (record as { payload?: unknown } | null)?.payload;
  if (p !== null && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'function') {
    return { ...(record as object), payload: (p as { text(): string }).text() };
  }
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
