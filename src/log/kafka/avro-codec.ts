/**
 * Avro on the live path's topics (`log.encoding: avro`), with avsc.
 *
 * - Each topic's Avro schema is generated from the zod schema of the
 *   records it carries (core/records.ts), so the two cannot drift.
 * - Records use Avro's single-object encoding: the marker C3 01, the
 *   writer schema's 64-bit Rabin fingerprint (CRC-64-AVRO of its Parsing
 *   Canonical Form, little-endian), then the binary record. The schema
 *   travels by fingerprint; a reader resolves it against the schemas it
 *   knows and refuses, with the reason, a record whose schema it cannot
 *   resolve for that topic (the log hands it to onPoison, and the pipeline
 *   quarantines it with its raw bytes).
 * - Topics without a schema (checkpoints) stay JSON.
 */
import avro from 'avsc';
import type { z } from 'zod';
import {
  CandidateTradeSchema,
  LiveBarSchema,
  QuarantinedSchema,
  RawResponseSchema,
} from '../../core/records.ts';
import { TOPICS } from '../log.ts';
import { type Codec, jsonCodec } from './codec.ts';

type ZodAny = z.ZodType;
type AvroSchema = avro.Schema;

/** The Avro schema of a zod schema (the subset our records use). */
export function avroSchemaOf(name: string, schema: ZodAny, doc?: string): AvroSchema {
  const def = (schema as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
  const type = def.type as string;
  if (type === 'object') {
    const shape = def.shape as Record<string, ZodAny>;
    return {
      type: 'record',
      name,
      ...(doc ? { doc } : {}),
      fields: Object.entries(shape).map(([field, s]) => {
        const t = avroSchemaOf(`${name}_${field}`, s);
        const optional =
          (s as unknown as { _zod: { def: { type: string } } })._zod.def.type === 'optional';
        return optional ? { name: field, type: t, default: null } : { name: field, type: t };
      }),
    } as AvroSchema;
  }
  if (type === 'string') return 'string';
  if (type === 'boolean') return 'boolean';
  if (type === 'number') return (schema as unknown as { isInt: boolean }).isInt ? 'long' : 'double';
  if (type === 'enum') {
    const symbols = Object.values(def.entries as Record<string, string>);
    // Avro enum symbols are names ([A-Za-z_][A-Za-z0-9_]*): '1m' is not one, so such a set stays a string.
    return symbols.every((x) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(x))
      ? { type: 'enum', name, symbols }
      : 'string';
  }
  if (type === 'nullable' || type === 'optional') {
    const inner = avroSchemaOf(name, def.innerType as ZodAny);
    // optional(nullable(x)) and nullable(x) both become ["null", x].
    return Array.isArray(inner) ? inner : (['null', inner] as AvroSchema);
  }
  throw new Error(`no Avro mapping for zod type ${type} (${name})`);
}

/** CRC-64-AVRO (Rabin) of a string's UTF-8 bytes, as the spec defines the fingerprint. */
const EMPTY = 0xc15d213aa4d7a795n;
const MASK = (1n << 64n) - 1n;
const TABLE = Array.from({ length: 256 }, (_, i) => {
  let fp = BigInt(i);
  for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (fp & 1n ? EMPTY : 0n);
  return fp & MASK;
});
export function rabinFingerprint(text: string): Buffer {
  let fp = EMPTY;
  for (const b of Buffer.from(text, 'utf8'))
    fp = (fp >> 8n) ^ TABLE[Number((fp ^ BigInt(b)) & 0xffn)]!;
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(fp & MASK);
  return out;
}

interface TopicType {
  type: avro.Type;
  fingerprint: Buffer;
  toWire(record: unknown): unknown;
  fromWire(value: Record<string, unknown>): unknown;
}

function payloadText(p: unknown): string {
  if (typeof p === 'string') return p;
  if (p !== null && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'function') {
    return (p as { text(): string }).text();
  }
  return '';
}

function topicType(schema: AvroSchema, wire: Pick<TopicType, 'toWire' | 'fromWire'>): TopicType {
  const type = avro.Type.forSchema(schema);
  return { type, fingerprint: rabinFingerprint(JSON.stringify(type.schema())), ...wire };
}

/** Optional fields become null in Avro; a record read back drops the nulls it did not have. */
const dropNulls = (keys: readonly string[]) => (v: Record<string, unknown>) => {
  for (const k of keys) if (v[k] === null) delete v[k];
  return v;
};

/** The writer schemas of every topic, as this build defines them. */
export function liveTopicTypes(): Map<string, TopicType> {
  // Trades travel in chunks of one symbol (TradeChunk); the raw-trades topic also carries
  // "feed ended" markers: one record type, { symbol, source, end, trades }.
  const trade = avroSchemaOf(
    'tickline.RawTrade',
    CandidateTradeSchema,
    'A trade as a live source parsed it',
  );
  const chunk = (name: string, doc: string): AvroSchema =>
    ({
      type: 'record',
      name,
      doc,
      fields: [
        { name: 'symbol', type: 'string' },
        { name: 'source', type: 'string', default: '' },
        { name: 'end', type: 'boolean', default: false },
        {
          name: 'trades',
          type: {
            type: 'array',
            items: name === 'tickline.RawTrades' ? trade : 'tickline.RawTrade',
          },
        },
      ],
    }) as AvroSchema;
  const toChunk = (r: unknown): unknown => {
    const x = r as Record<string, unknown>;
    if (x.end === true) return { symbol: x.symbol, source: x.source, end: true, trades: [] };
    const trades = (Array.isArray(x.trades) ? x.trades : [x]) as Record<string, unknown>[];
    return {
      symbol: x.symbol,
      source: '',
      end: false,
      trades: trades.map((t) => ({ ...t, payload: payloadText(t.payload) })),
    };
  };
  const fromChunk = (v: Record<string, unknown>): unknown =>
    v.end === true
      ? { end: true, symbol: v.symbol, source: v.source }
      : { symbol: v.symbol, trades: v.trades };
  const rawChunk = chunk(
    'tickline.RawTrades',
    'Trades of one symbol as a live source parsed them, or (end = true) the end of its feed',
  );
  return new Map<string, TopicType>([
    [TOPICS.rawTrades, topicType(rawChunk, { toWire: toChunk, fromWire: fromChunk })],
    [
      TOPICS.trades,
      topicType(
        {
          type: 'record',
          name: 'tickline.Trades',
          doc: 'Validated trades of one symbol',
          fields: [
            { name: 'symbol', type: 'string' },
            {
              name: 'trades',
              type: { type: 'array', items: avroSchemaOf('tickline.Trade', CandidateTradeSchema) },
            },
          ],
        } as AvroSchema,
        {
          toWire: (r) => {
            const c = toChunk(r) as { symbol: string; trades: unknown[] };
            return { symbol: c.symbol, trades: c.trades };
          },
          fromWire: (v) => ({ symbol: v.symbol, trades: v.trades }),
        },
      ),
    ],
    [
      TOPICS.quarantine,
      topicType(avroSchemaOf('tickline.Quarantined', QuarantinedSchema), {
        toWire: (r) => r,
        fromWire: dropNulls(['interval']),
      }),
    ],
    [
      TOPICS.bars,
      topicType(avroSchemaOf('tickline.Bar', LiveBarSchema), {
        toWire: (r) => r,
        fromWire: dropNulls(['vwap', 'tradeCount', 'backfilled']),
      }),
    ],
    [
      TOPICS.raw,
      topicType(avroSchemaOf('tickline.RawResponse', RawResponseSchema), {
        toWire: (r) => r,
        fromWire: (v) => v,
      }),
    ],
  ]);
}

const MAGIC = Buffer.from([0xc3, 0x01]);

/**
 * Earlier versions of this build's own topic schemas, written by workers of
 * an earlier release: still read (a rolling upgrade mixes both), resolved to
 * the current schema by Avro's rules (a field added since gets its default).
 * Pinned as text: they must not follow later changes to the zod definitions.
 */
export const EARLIER_SCHEMAS: { topic: string; schema: AvroSchema }[] = [
  // Before the process and store stages quarantined records they failed on.
  { topic: TOPICS.quarantine, schema: pinnedQuarantined(['interval']) },
  // Before quarantined records kept their bar interval.
  { topic: TOPICS.quarantine, schema: pinnedQuarantined([]) },
  // Before raw responses carried the time of their first record (dataFrom).
  {
    topic: TOPICS.raw,
    schema: {
      type: 'record',
      name: 'tickline.RawResponse',
      fields: [
        { name: 'source', type: 'string' },
        { name: 'request', type: 'string' },
        { name: 'receivedAt', type: 'long' },
        { name: 'status', type: 'long' },
        { name: 'body', type: 'string' },
      ],
    },
  },
];

/**
 * The quarantined-record schema as releases before the `process` and
 * `store` stages wrote it (stages parse, validate, decode), with the
 * optional fields it had then.
 */
function pinnedQuarantined(optional: 'interval'[]): AvroSchema {
  const nullable = (name: string) => ({ name, type: ['null', 'string'] });
  return {
    type: 'record',
    name: 'tickline.Quarantined',
    fields: [
      {
        name: 'stage',
        type: {
          type: 'enum',
          name: 'tickline.Quarantined_stage',
          symbols: ['parse', 'validate', 'decode'],
        },
      },
      { name: 'source', type: 'string' },
      nullable('symbol'),
      ...optional.map(nullable),
      { name: 'rule', type: 'string' },
      { name: 'message', type: 'string' },
      { name: 'payload', type: 'string' },
      { name: 'receivedAt', type: 'long' },
    ],
  } as AvroSchema;
}

/**
 * An Avro codec. `known` adds writer schemas a reader accepts besides this
 * build's own (older versions of a topic's schema, by topic).
 */
export function avroCodec(known: { topic: string; schema: AvroSchema }[] = []): Codec {
  const own = liveTopicTypes();
  /** Writer types by fingerprint (hex), with the topic they belong to. */
  const writers = new Map<string, { topic: string; type: avro.Type }>();
  for (const [topic, t] of own) writers.set(t.fingerprint.toString('hex'), { topic, type: t.type });
  for (const k of [...EARLIER_SCHEMAS, ...known]) {
    const type = avro.Type.forSchema(k.schema);
    writers.set(rabinFingerprint(JSON.stringify(type.schema())).toString('hex'), {
      topic: k.topic,
      type,
    });
  }
  const resolvers = new Map<string, avro.Resolver | null>();
  return {
    name: 'avro',
    encode(topic, record) {
      const t = own.get(topic);
      if (!t) return jsonCodec.encode(topic, record);
      const body = t.type.toBuffer(t.toWire(record));
      return Buffer.concat([MAGIC, t.fingerprint, body]);
    },
    decode(topic, bytes) {
      const t = own.get(topic);
      if (!t) return jsonCodec.decode(topic, bytes);
      if (!bytes || bytes.length < 10 || bytes[0] !== 0xc3 || bytes[1] !== 0x01) {
        throw new Error('not an Avro single-object record (no C3 01 marker)');
      }
      const fp = bytes.subarray(2, 10).toString('hex');
      const writer = writers.get(fp);
      if (!writer) throw new Error(`unknown Avro schema fingerprint ${fp}`);
      let resolver = resolvers.get(`${topic}/${fp}`);
      if (resolver === undefined) {
        try {
          resolver = writer.type === t.type ? null : t.type.createResolver(writer.type);
        } catch (err) {
          throw new Error(
            `Avro schema ${fp} (${writer.topic}) cannot be read as ${topic}'s: ${(err as Error).message}`,
          );
        }
        resolvers.set(`${topic}/${fp}`, resolver);
      }
      let value: Record<string, unknown>;
      try {
        value = (
          resolver
            ? t.type.fromBuffer(bytes.subarray(10), resolver)
            : t.type.fromBuffer(bytes.subarray(10))
        ) as Record<string, unknown>;
      } catch (err) {
        throw new Error(`Avro record does not match schema ${fp}: ${(err as Error).message}`);
      }
      return t.fromWire({ ...value });
    },
  };
}
