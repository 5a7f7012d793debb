/**
 * The live path in one process (source → in-process log → quality → bars →
 * DuckDB) over a synthetic session from the seeded simulator, in Finnhub's
 * message format: exact trades and bars against an independent reference,
 * duplicate delivery, out-of-order and late delivery, and fault injection.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bar } from '../../src/core/records.ts';
import { TOPICS } from '../../src/log/log.ts';
import { MemoryLog } from '../../src/log/memory/memory-log.ts';
import type { StreamEvent } from '../../src/pipelines/stream.ts';
import { type SimMessage, simulate } from '../../src/sources/simulator/simulator.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { ENRICHED_COLUMNS } from '../../src/transform/enrich.ts';
import { checksums, tempDir, withDb } from '../helpers/db.ts';
import { diffBars, messageSource, referenceBars, runToEnd, tradesIn } from '../helpers/live.ts';

const SYMBOLS = ['AAPL', 'MSFT', 'NVDA'];
const T0 = Date.UTC(2024, 0, 2, 14, 30);
const INTERVALS = ['1s', '1m', '5m'] as const;

function session(n: number, extra: Parameters<typeof simulate>[0] | object = {}): SimMessage[] {
  const gen = simulate({
    symbols: SYMBOLS,
    seed: 42,
    tradesPerSecond: 20,
    burstiness: 0.5,
    tradesPerMessage: 3,
    startTs: T0,
    ...extra,
  });
  return Array.from({ length: n }, () => gen.next().value!);
}

async function allBars(store: Store): Promise<Bar[]> {
  const out: Bar[] = [];
  for (const symbol of SYMBOLS) {
    for (const interval of INTERVALS) out.push(...(await store.readBars({ symbol, interval })));
  }
  return out;
}

async function allTrades(store: Store) {
  const out = [];
  for (const symbol of SYMBOLS) out.push(...(await store.readTrades({ symbol })));
  return out;
}

/** Table contents without the columns that record when a row was written. */
async function contents(file: string): Promise<Record<string, string>> {
  return withDb(file, async (q) => {
    const out: Record<string, string> = {};
    for (const [t, cols] of [
      ['trades', 'symbol, ts, price, size, conditions, trade_id, source'],
      ['bars', 'symbol, interval, ts, open, high, low, close, volume, vwap, trade_count, source'],
      ['quarantine', 'id, stage, source, symbol, rule, message, payload'],
      ['bar_indicators', 'x'],
    ] as const) {
      const [row] = await q(
        `SELECT count(*) AS n, coalesce(sum(hash(${cols})), 0)::VARCHAR AS h FROM ${t} x`,
      );
      out[t] = `${row!.n}:${row!.h}`;
    }
    return out;
  });
}

let dir: string;
beforeAll(() => {
  dir = tempDir();
});
afterAll(() => undefined);

/** Each test runs on one thread, and with the source and process stage on a worker thread. */
const MODES = [
  { mode: 'one thread', thread: false },
  { mode: 'worker thread', thread: true },
] as const;

describe.each(MODES)('live path: trades → bars → store ($mode)', ({ thread }) => {
  const run = (
    store: Store,
    messages: readonly string[],
    opts: Parameters<typeof runToEnd>[3] = {},
  ): ReturnType<typeof runToEnd> =>
    runToEnd(store, messageSource(messages, 'finnhub', 64, thread), SYMBOLS, {
      ...opts,
      // Final bars and their indicators are told either way; forming-bar updates are not asked.
      barUpdates: false,
      threaded: thread,
    });
  /** A store file of this mode. */
  const at = (name: string): string => join(dir, `${thread ? 'thread' : 'one'}-${name}`);
  const clean = session(2_000).map((m) => m.text);
  const trades = tradesIn(clean);
  const reference = referenceBars(trades, [...INTERVALS], 'finnhub');

  it('stores exactly the session’s trades and the reference bars, with curated indicators', async () => {
    const file = at('in-order.duckdb');
    const store = await openStoreAt(file);
    const finals: StreamEvent[] = [];
    const stats = await run(store, clean, {
      onEvent: (e) => {
        if (e.kind === 'final' && e.bar.symbol === 'AAPL' && e.bar.interval === '1s')
          finals.push(e);
      },
    });
    expect(stats.tradesValid).toBe(trades.length);
    expect(await allTrades(store)).toEqual(trades);
    expect(diffBars(await allBars(store), reference)).toEqual([]);
    const [row] = (
      await store
        .capability('sql')
        .sql(`SELECT count(*) AS n, count(sma_20) AS sma FROM bars_enriched WHERE interval = '1s'`)
    ).rows;
    expect(Number(row!.n)).toBe(reference.filter((b) => b.interval === '1s').length);
    expect(Number(row!.sma)).toBe(Number(row!.n) - 19 * SYMBOLS.length);
    // The indicators published incrementally as each bar became final equal the batch ones that
    // the curated layer computed over the stored series.
    const batch = (
      await store
        .capability('sql')
        .sql(`SELECT * FROM bars_enriched WHERE symbol = 'AAPL' AND interval = '1s' ORDER BY ts`)
    ).rows;
    expect(finals.map((e) => (e.kind === 'final' ? e.bar.ts : 0))).toEqual(
      batch.map((r) => Date.parse(String(r.ts))),
    );
    let compared = 0;
    finals.forEach((e, i) => {
      if (e.kind !== 'final') return;
      for (const c of ENRICHED_COLUMNS) {
        const want = batch[i]![c] as number | null;
        const got = e.indicators![c];
        if (want === null) expect(got, `${c}[${i}]`).toBeNaN();
        else {
          expect(Math.abs(got - want), `${c}[${i}]`).toBeLessThanOrEqual(1e-9 * Math.abs(want));
          compared++;
        }
      }
    });
    expect(compared).toBeGreaterThan(2_000);
    await store.close();
  });

  it.skipIf(thread)(
    'loses nothing when publishing a processed batch fails: the redelivered batch sends what it produced',
    async () => {
      // The process stage validates a batch (its duplicate memory then holds those trades) and
      // publishes the output; when the publish fails the log delivers the batch again, and
      // validating it again would drop every trade as a duplicate.
      class FlakyLog extends MemoryLog {
        failures = 3;
        override publish<T>(
          topic: string,
          recs: readonly T[],
          key: (r: T) => string,
          weight?: (r: T) => number,
        ) {
          if (topic === TOPICS.trades && recs.length > 0 && this.failures > 0) {
            this.failures--;
            return Promise.reject(new Error('broker away'));
          }
          return super.publish(topic, recs, key, weight);
        }
      }
      const log = new FlakyLog({ partitions: 4, retryMs: 1, onError: () => {} });
      const store = await openStoreAt(at('flaky-publish.duckdb'));
      const stats = await runToEnd(store, messageSource(clean), SYMBOLS, { log });
      expect(log.failures).toBe(0);
      expect(stats.tradesValid).toBe(trades.length);
      expect(await allTrades(store)).toEqual(trades);
      expect(diffBars(await allBars(store), reference)).toEqual([]);
      await store.close();
    },
  );

  it('leaves identical tables when every message is delivered twice, or the session is replayed', async () => {
    const twice = clean.flatMap((m) => [m, m]);
    const file = at('twice.duckdb');
    let store = await openStoreAt(file);
    const stats = await run(store, twice);
    expect(stats.duplicates).toBe(trades.length);
    await store.close();
    expect(await contents(file)).toEqual(await contents(at('in-order.duckdb')));
    // The whole session again, into the same store: nothing changes, not even ingested_at.
    const before = await checksums(file);
    store = await openStoreAt(file);
    await run(store, twice);
    await store.close();
    expect(await checksums(file)).toEqual(before);
  });

  it('gives the same final bars when trades arrive out of order within the allowed lateness', async () => {
    // Each trade is delayed by up to 1.5 s of event time (lateness allows 2 s), then re-sorted.
    let seed = 9;
    const rand = (): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 2 ** 32;
    };
    const shuffled = trades
      .map((t) => ({ t, k: t.ts + rand() * 1_500 }))
      .sort((a, b) => a.k - b.k)
      .map(({ t }) =>
        JSON.stringify({
          data: [
            {
              s: t.symbol,
              p: t.price,
              t: t.ts,
              v: t.size,
              ...(t.conditions ? { c: t.conditions.split(',') } : {}),
            },
          ],
          type: 'trade',
        }),
      );
    const store = await openStoreAt(':memory:');
    const stats = await run(store, shuffled);
    expect(stats.rejectsByRule).toEqual({});
    expect(stats.corrections).toBeGreaterThan(0);
    expect(diffBars(await allBars(store), reference)).toEqual([]);
    await store.close();
  });

  it('quarantines trades later than the allowed lateness as late_trade, leaving the bars alone', async () => {
    const late = trades
      .filter((_, i) => i % 200 === 100)
      .map((t) => ({ ...t, ts: t.ts - 3_000, price: t.price + 0.01 }));
    // Each late trade follows the newest trade of its symbol, 3 s behind it.
    const messages = [...clean];
    for (const t of late) {
      const at = messages.findIndex((m) => m.includes(`"t":${t.ts + 3_000}`)) + 1;
      messages.splice(
        at,
        0,
        JSON.stringify({ data: [{ s: t.symbol, p: t.price, t: t.ts, v: t.size }], type: 'trade' }),
      );
    }
    const store = await openStoreAt(':memory:');
    const stats = await run(store, messages);
    expect(stats.rejectsByRule).toEqual({ late_trade: late.length });
    const rows = await store
      .capability('quarantine')
      .readQuarantine({ rule: 'late_trade', limit: 1_000 });
    expect(rows.length).toBe(late.length);
    expect(rows.every((r) => r.stage === 'validate' && JSON.parse(r.payload).t < T0 + 1e9)).toBe(
      true,
    );
    expect(diffBars(await allBars(store), reference)).toEqual([]);
    await store.close();
  });
});

describe.each(MODES)('simulator fault injection ($mode)', ({ thread }) => {
  it('quarantines every injected bad record with its rule, and no clean trade', async () => {
    const msgs = session(6_000, { faultRate: 0.05, duplicateRate: 0.02, seed: 7 });
    const want: Record<string, number> = {};
    let dupTrades = 0;
    for (const m of msgs) {
      if (m.truth.kind === 'fault') want[m.truth.rule] = (want[m.truth.rule] ?? 0) + 1;
      if (m.truth.kind === 'duplicate') dupTrades += m.truth.trades;
    }
    expect(Object.keys(want).sort()).toEqual(
      [
        'future_timestamp',
        'late_trade',
        'malformed_message',
        'negative_size',
        'non_positive_price',
        'not_finite',
        'price_outlier',
        'unsubscribed_symbol',
      ].sort(),
    );
    const cleanMsgs = msgs.filter((m) => m.truth.kind === 'clean').map((m) => m.text);
    const store = await openStoreAt(':memory:');
    const stats = await runToEnd(
      store,
      messageSource(
        msgs.map((m) => m.text),
        'finnhub',
        64,
        thread,
      ),
      SYMBOLS,
      { threaded: thread },
    );
    expect(stats.rejectsByRule).toEqual(want);
    expect(await store.capability('quarantine').rejectCounts()).toEqual(want);
    expect(stats.duplicates).toBe(dupTrades);
    // Every clean trade is stored, and nothing else.
    expect(await allTrades(store)).toEqual(tradesIn(cleanMsgs));
    const q = await store.capability('quarantine').readQuarantine({ limit: 10_000 });
    const malformed = q.filter((r) => r.rule === 'malformed_message');
    expect(malformed.every((r) => r.stage === 'parse')).toBe(true);
    expect(q.filter((r) => r.stage === 'validate').every((r) => JSON.parse(r.payload).s)).toBe(
      true,
    );
    await store.close();
  });
});
