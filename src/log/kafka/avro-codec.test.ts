import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { CandidateTradeSchema, LiveBarSchema, QuarantinedSchema } from '../../core/records.ts';
import { TOPICS } from '../log.ts';
import { avroCodec, avroSchemaOf, EARLIER_SCHEMAS, rabinFingerprint } from './avro-codec.ts';
import { jsonCodec } from './codec.ts';

describe('Avro codec', () => {
  it('fingerprints schemas as Avro’s own implementation does (CRC-64-AVRO)', () => {
    // Expected values from org.apache.avro:avro 1.11.4, SchemaNormalization.parsingFingerprint64.
    expect(rabinFingerprint('"int"').readBigUInt64LE().toString(16)).toBe('7275d51a3f395c8f');
    expect(
      rabinFingerprint(
        '{"name":"X","type":"record","fields":[{"name":"a","type":"long"},{"name":"b","type":["null","string"]}]}',
      )
        .readBigUInt64LE()
        .toString(16),
    ).toBe('a4eeef8e5db42e74');
  });

  it('generates the schemas from the records’ zod definitions', () => {
    const trade = avroSchemaOf('T', CandidateTradeSchema) as {
      fields: { name: string; type: unknown }[];
    };
    expect(trade.fields.map((f) => `${f.name}:${JSON.stringify(f.type)}`)).toEqual([
      'symbol:"string"',
      'ts:"double"',
      'price:"double"',
      'size:"double"',
      'conditions:"string"',
      'tradeId:"string"',
      'source:"string"',
      'payload:"string"',
      'receivedAt:"long"',
    ]);
    const bar = avroSchemaOf('B', LiveBarSchema) as {
      fields: { name: string; type: unknown; default?: unknown }[];
    };
    // Interval names such as 1m are not Avro names: a string.
    expect(bar.fields.find((f) => f.name === 'interval')?.type).toBe('string');
    const q = avroSchemaOf('Q', QuarantinedSchema) as { fields: { name: string; type: unknown }[] };
    expect(q.fields.find((f) => f.name === 'stage')?.type).toEqual({
      type: 'enum',
      name: 'Q_stage',
      symbols: ['parse', 'validate', 'decode', 'process', 'store'],
    });
    expect(bar.fields.find((f) => f.name === 'vwap')).toEqual({
      name: 'vwap',
      type: ['null', 'double'],
      default: null,
    });
  });

  it('round-trips every live record, with the writer schema’s fingerprint up front', () => {
    const c = avroCodec();
    const trade = {
      symbol: 'AAPL',
      ts: 1_715_090_400_123,
      price: 189.5,
      size: 100,
      conditions: '1,12',
      tradeId: '',
      source: 'finnhub',
      payload: { text: () => '{"p":189.5,"s":"AAPL"}' },
      receivedAt: 1_715_090_400_200,
    };
    const bytes = c.encode(TOPICS.rawTrades, {
      symbol: 'AAPL',
      trades: [trade, { ...trade, ts: trade.ts + 1 }],
    });
    expect([...bytes.subarray(0, 2)]).toEqual([0xc3, 0x01]);
    const text = { ...trade, payload: '{"p":189.5,"s":"AAPL"}' };
    expect(c.decode(TOPICS.rawTrades, bytes)).toEqual({
      symbol: 'AAPL',
      trades: [text, { ...text, ts: trade.ts + 1 }],
    });
    // A lone trade travels as a chunk of one.
    expect(c.decode(TOPICS.trades, c.encode(TOPICS.trades, trade))).toEqual({
      symbol: 'AAPL',
      trades: [text],
    });
    const bad = { ...trade, ts: Number.NaN, price: Number.POSITIVE_INFINITY, payload: 'x' };
    const back = (
      c.decode(TOPICS.rawTrades, c.encode(TOPICS.rawTrades, bad)) as { trades: (typeof bad)[] }
    ).trades[0]!;
    expect(back.ts).toBeNaN();
    expect(back.price).toBe(Number.POSITIVE_INFINITY);
    const end = { end: true, symbol: 'AAPL', source: 'replay' };
    expect(c.decode(TOPICS.rawTrades, c.encode(TOPICS.rawTrades, end))).toEqual(end);
    const q = {
      stage: 'validate',
      source: 'finnhub',
      symbol: null,
      rule: 'late_trade',
      message: 'm',
      payload: '{}',
      receivedAt: 5,
    };
    expect(c.decode(TOPICS.quarantine, c.encode(TOPICS.quarantine, q))).toEqual(q);
    const bar = {
      symbol: 'AAPL',
      interval: '1m',
      ts: 60_000,
      open: 1,
      high: 2,
      low: 0.5,
      close: 1.5,
      volume: 10,
      adjClose: null,
      source: 'finnhub',
      vwap: 1.2,
      tradeCount: 3,
    };
    expect(c.decode(TOPICS.bars, c.encode(TOPICS.bars, bar))).toEqual(bar);
    const daily = { ...bar, vwap: undefined, tradeCount: undefined, backfilled: true };
    const { vwap: _v, tradeCount: _t, ...rest } = daily;
    expect(c.decode(TOPICS.bars, c.encode(TOPICS.bars, daily))).toEqual(rest);
    // Topics without a schema (checkpoints) stay JSON.
    expect(c.decode('x.checkpoints', c.encode('x.checkpoints', { offset: 3, state: 's' }))).toEqual(
      { offset: 3, state: 's' },
    );
  });

  it('refuses, naming why, bytes that are not Avro, an unknown schema, or another topic’s schema', () => {
    const c = avroCodec();
    expect(() => c.decode(TOPICS.trades, Buffer.from('{"symbol":"AAPL"}'))).toThrow(
      /no C3 01 marker/,
    );
    const unknown = Buffer.concat([
      Buffer.from([0xc3, 0x01]),
      Buffer.alloc(8, 7),
      Buffer.from([2, 0x41]),
    ]);
    expect(() => c.decode(TOPICS.trades, unknown)).toThrow(
      /unknown Avro schema fingerprint 0707070707070707/,
    );
    const raw = c.encode(TOPICS.raw, {
      source: 's',
      request: 'r',
      receivedAt: 1,
      status: 200,
      body: 'b',
    });
    expect(() => c.decode(TOPICS.trades, raw)).toThrow(/cannot be read as tickline.trades/);
    const truncated = c
      .encode(TOPICS.quarantine, {
        stage: 'decode',
        source: 's',
        symbol: 'A',
        rule: 'r',
        message: 'm',
        payload: 'p',
        receivedAt: 1,
      })
      .subarray(0, 14);
    expect(() => c.decode(TOPICS.quarantine, truncated)).toThrow(/does not match schema/);
  });

  it('reads a record written with an older schema it was told about', () => {
    const older = {
      type: 'record' as const,
      name: 'tickline.RawResponse',
      fields: [
        { name: 'source', type: 'string' },
        { name: 'request', type: 'string' },
        { name: 'receivedAt', type: 'long' },
        { name: 'status', type: 'long' },
        { name: 'body', type: 'string' },
        { name: 'comment', type: 'string' },
      ],
    };
    const t = avro.Type.forSchema(older);
    const bytes = Buffer.concat([
      Buffer.from([0xc3, 0x01]),
      rabinFingerprint(JSON.stringify(t.schema())),
      t.toBuffer({
        source: 's',
        request: 'r',
        receivedAt: 1,
        status: 200,
        body: 'b',
        comment: 'old field',
      }),
    ]);
    expect(() => avroCodec().decode(TOPICS.raw, bytes)).toThrow(/unknown Avro schema/);
    // Resolved to this build's schema: a field the writer lacked takes its default.
    expect(avroCodec([{ topic: TOPICS.raw, schema: older }]).decode(TOPICS.raw, bytes)).toEqual({
      source: 's',
      request: 'r',
      receivedAt: 1,
      status: 200,
      body: 'b',
      dataFrom: null,
    });
  });

  it('reads raw responses the previous release wrote (before dataFrom)', () => {
    const previous = EARLIER_SCHEMAS.find(
      (e) => e.topic === TOPICS.raw && !JSON.stringify(e.schema).includes('dataFrom'),
    )!;
    const t = avro.Type.forSchema(previous.schema);
    const record = { source: 's', request: 'r', receivedAt: 1, status: 200, body: 'b' };
    const bytes = Buffer.concat([
      Buffer.from([0xc3, 0x01]),
      rabinFingerprint(JSON.stringify(t.schema())),
      t.toBuffer(record),
    ]);
    expect(avroCodec().decode(TOPICS.raw, bytes)).toEqual({ ...record, dataFrom: null });
    // And what this build writes reads back with its dataFrom.
    const now = { ...record, dataFrom: 1_600_000_000_000 };
    expect(avroCodec().decode(TOPICS.raw, avroCodec().encode(TOPICS.raw, now))).toEqual(now);
  });
});

describe('JSON codec', () => {
  it('writes lazy payloads as their text, also inside a chunk of trades', () => {
    const lazy = { text: () => '{"p":1}' };
    const back = jsonCodec.decode(
      TOPICS.rawTrades,
      jsonCodec.encode(TOPICS.rawTrades, { symbol: 'A', trades: [{ symbol: 'A', payload: lazy }] }),
    );
    expect(back).toEqual({ symbol: 'A', trades: [{ symbol: 'A', payload: '{"p":1}' }] });
    expect(jsonCodec.decode('t', jsonCodec.encode('t', { payload: lazy }))).toEqual({
      payload: '{"p":1}',
    });
  });

  it('reads quarantined records of the earlier schema (no interval) and keeps the interval of new ones', () => {
    const c = avroCodec();
    const bar = {
      stage: 'validate' as const,
      source: 'yahoo',
      symbol: 'AAPL',
      interval: '1h' as const,
      rule: 'negative_volume',
      message: 'm',
      payload: '{}',
      receivedAt: 5,
    };
    expect(c.decode(TOPICS.quarantine, c.encode(TOPICS.quarantine, bar))).toEqual(bar);
    const { interval: _, ...trade } = bar;
    // A record without an interval (a trade) reads back without one.
    expect(c.decode(TOPICS.quarantine, c.encode(TOPICS.quarantine, trade))).toEqual(trade);
    // What an earlier release wrote: its own fingerprint, no interval field.
    const earlier = EARLIER_SCHEMAS.find(
      (e) =>
        e.topic === TOPICS.quarantine &&
        !(e.schema as { fields: { name: string }[] }).fields.some((f) => f.name === 'interval'),
    )!;
    const t = avro.Type.forSchema(earlier.schema as avro.Schema);
    const bytes = Buffer.concat([
      Buffer.from([0xc3, 0x01]),
      rabinFingerprint(JSON.stringify(t.schema())),
      t.toBuffer(trade),
    ]);
    expect(bytes.subarray(2, 10)).not.toEqual(c.encode(TOPICS.quarantine, trade).subarray(2, 10));
    expect(c.decode(TOPICS.quarantine, bytes)).toEqual(trade);
  });

  it('reads quarantined records written before the process and store stages existed', () => {
    const c = avroCodec();
    const rec = {
      stage: 'validate' as const,
      source: 'finnhub',
      symbol: 'AAPL',
      interval: '1h' as const,
      rule: 'late_trade',
      message: 'm',
      payload: '{}',
      receivedAt: 5,
    };
    const earlier = EARLIER_SCHEMAS.find(
      (e) =>
        e.topic === TOPICS.quarantine &&
        (e.schema as { fields: { name: string }[] }).fields.some((f) => f.name === 'interval'),
    )!;
    const t = avro.Type.forSchema(earlier.schema as avro.Schema);
    const bytes = Buffer.concat([
      Buffer.from([0xc3, 0x01]),
      rabinFingerprint(JSON.stringify(t.schema())),
      t.toBuffer(rec),
    ]);
    expect(bytes.subarray(2, 10)).not.toEqual(c.encode(TOPICS.quarantine, rec).subarray(2, 10));
    expect(c.decode(TOPICS.quarantine, bytes)).toEqual(rec);
    // And the new stages round-trip.
    const q = { ...rec, stage: 'process' as const, rule: 'unprocessable_record' };
    expect(c.decode(TOPICS.quarantine, c.encode(TOPICS.quarantine, q))).toEqual(q);
  });
});
