import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/core/random.ts';
import { type Bar, type Trade, tradeContentId } from '../../src/core/records.ts';
import { RAW_PART_BYTES } from '../../src/store/duckdb/duckdb-records.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import type { SeriesKey, Store } from '../../src/store/store.ts';
import { ENRICHED_COLUMNS, type EnrichedColumn } from '../../src/transform/enrich.ts';
import { tempDir } from '../helpers/db.ts';
import { storeContract } from './store-contract.ts';

storeContract('duckdb (file)', () => openStoreAt(join(tempDir(), 'contract.duckdb')));

describe('DuckDB store: the parallel bulk insert', () => {
  it('stores nothing of a bulk write that fails half way, and goes on as before', async () => {
    const store = await openStoreAt(join(tempDir(), 'bulk-fail.duckdb'));
    try {
      const bars: Bar[] = Array.from({ length: 120_000 }, (_, i) => ({
        // Past the checks a record passes before it is written: a row the insert cannot take.
        symbol: i < 110_000 ? 'AAA' : (undefined as unknown as string),
        interval: '1m',
        ts: Date.UTC(2024, 0, 2) + i * 60_000,
        open: 1,
        high: 2,
        low: 0.5,
        close: 1.5,
        volume: 1,
        adjClose: null,
        source: 'test',
      }));
      const empty = { raw: [], rejects: [], actions: [], instruments: [] };
      await expect(store.write({ ...empty, bars })).rejects.toThrow(/DuckDB write failed/);
      const after = await store
        .capability('sql')
        .sql(
          "SELECT count(*) AS n, current_setting('preserve_insertion_order') AS ordered FROM bars",
        );
      expect(after.rows[0]).toEqual({ n: 0, ordered: true });
      expect((await store.write({ ...empty, bars: bars.slice(0, 110_000) })).barsChanged).toBe(
        110_000,
      );
      expect(await store.readBars({ symbol: 'AAA', interval: '1m', limit: 2 })).toEqual(
        bars.slice(0, 2),
      );
    } finally {
      await store.close();
    }
  });
});

describe('DuckDB store: trades', () => {
  it('stores conditions no SQL literal can hold (a NUL) through the string path, once', async () => {
    const store = await openStoreAt(join(tempDir(), 'nul.duckdb'));
    const trades: Trade[] = ['a\u0000b', '1,12'].map((conditions, i) => {
      const t = { symbol: 'A', ts: 1_700_000_000_000 + i, price: 1, size: 1, conditions };
      return { ...t, source: 'x', tradeId: tradeContentId(t.ts, t.price, t.size, conditions) };
    });
    const w = { raw: [], bars: [], rejects: [], actions: [], instruments: [] };
    expect((await store.write({ ...w, trades })).tradesInserted).toBe(2);
    expect((await store.write({ ...w, trades })).tradesInserted).toBe(0);
    expect(await store.readTrades({ symbol: 'A' })).toEqual(trades);
    await store.close();
  });
});

describe('DuckDB store: bars of many short series (strings as codes)', () => {
  it('stores a write of many series of a bar or two, and its corrections, as writes series by series do', async () => {
    const rand = seededRandom(5);
    const T = Date.UTC(2024, 0, 2, 14, 30);
    const bar = (symbol: string, interval: '1s' | '1m', k: number, source: string): Bar => {
      const open = 10 + rand() * 10;
      return {
        symbol,
        interval,
        ts: T + k * (interval === '1s' ? 1_000 : 60_000),
        open,
        high: open + 1,
        low: open - 1,
        close: open + rand() - 0.5,
        volume: Math.round(rand() * 1000),
        adjClose: null,
        source,
        vwap: k % 3 === 0 ? null : open,
        tradeCount: k % 4 === 0 ? null : k,
        backfilled: k % 5 === 0,
      };
    };
    // 300 series (one with a quote in its source) of two bars each: short runs, so codes.
    const many: Bar[] = [];
    for (let i = 0; i < 150; i++) {
      for (const interval of ['1s', '1m'] as const) {
        for (let k = 0; k < 2; k++)
          many.push(bar(`S${i}`, interval, k, i === 7 ? "o'brien" : 'live'));
      }
    }
    const w = { raw: [], rejects: [], actions: [], instruments: [] };
    const coded = await openStoreAt(join(tempDir(), 'coded.duckdb'));
    const oneByOne = await openStoreAt(join(tempDir(), 'series.duckdb'));
    expect((await coded.write({ ...w, bars: many })).barsChanged).toBe(many.length);
    for (let i = 0; i < many.length; i += 2) {
      await oneByOne.write({ ...w, bars: many.slice(i, i + 2) });
    }
    // Corrections of one bar in every third series, again as one write (the merge, with codes).
    const fixes = many
      .filter((_, j) => j % 6 === 1)
      .map((b) => ({ ...b, close: b.close + 1, tradeCount: 99 }));
    expect((await coded.write({ ...w, bars: fixes })).barsChanged).toBe(fixes.length);
    await oneByOne.write({ ...w, bars: fixes });
    const read = async (s: Store) => {
      const out: Bar[] = [];
      for (let i = 0; i < 150; i++) {
        for (const interval of ['1s', '1m'] as const)
          out.push(...(await s.readBars({ symbol: `S${i}`, interval })));
      }
      return out;
    };
    const got = await read(coded);
    expect(got).toEqual(await read(oneByOne));
    const fixed = new Map(fixes.map((b) => [`${b.symbol} ${b.interval} ${b.ts}`, b]));
    const want = many.map((b) => fixed.get(`${b.symbol} ${b.interval} ${b.ts}`) ?? b);
    // (A read leaves out what is null or false.)
    const fields = (b: Bar) => [
      b.symbol,
      b.interval,
      b.ts,
      b.close,
      b.source,
      b.vwap ?? null,
      b.tradeCount ?? null,
      b.backfilled === true,
    ];
    expect(got.map(fields)).toEqual(want.map(fields));
    await coded.close();
    await oneByOne.close();
  });
});

describe('DuckDB store: trade ids that are nearly content ids', () => {
  it('stores 16-character ids that are not lowercase hex exactly as given, beside content ids', async () => {
    const store = await openStoreAt(join(tempDir(), 'ids.duckdb'));
    const ids = [
      '00000000000000AB', // uppercase
      '000000000000000\u0130', // İ: its low seven bits are '0'
      '000000000000000g',
      'ffffffffffffffff',
    ];
    const trades: Trade[] = ids.map((tradeId, i) => ({
      symbol: 'A',
      ts: 1_700_000_000_000 + i,
      price: 1,
      size: 1,
      conditions: '',
      source: 'x',
      tradeId,
    }));
    const w = { raw: [], bars: [], rejects: [], actions: [], instruments: [] };
    try {
      // One write each: a write goes as numbers only if every id in it reads as a content id.
      for (const t of trades) {
        expect((await store.write({ ...w, trades: [t] })).tradesInserted).toBe(1);
      }
      expect((await store.write({ ...w, trades })).tradesInserted).toBe(0);
      expect((await store.readTrades({ symbol: 'A' })).map((t) => t.tradeId)).toEqual(ids);
    } finally {
      await store.close();
    }
  });
});

describe('DuckDB store: quarantine rows from before v4 (no interval)', () => {
  it('gets its interval when the same record is quarantined again, and is not stored twice', async () => {
    const store = await openStoreAt(join(tempDir(), 'v4.duckdb'));
    try {
      const reject = {
        stage: 'parse' as const,
        source: 'csv',
        symbol: 'AAPL',
        interval: '1wk' as const,
        rule: 'high_low_inconsistent',
        message: 'm',
        payload: '2020-01-06,1,0.5,2,1,1,1',
        receivedAt: 1,
      };
      const write = () =>
        store.write({ raw: [], bars: [], rejects: [reject], actions: [], instruments: [] });
      await write();
      await store.capability('sql').sql('UPDATE quarantine SET interval = NULL'); // as v3 stored it
      expect((await store.capability('quarantine').readQuarantine({}))[0]!.interval).toBeNull();
      await write();
      const rows = await store.capability('quarantine').readQuarantine({});
      expect(rows.map((r) => [r.payload, r.interval])).toEqual([[reject.payload, '1wk']]);
      expect((await store.status()).map((s) => [s.symbol, s.interval, s.rejects])).toEqual([
        ['AAPL', '1wk', 1],
      ]);
    } finally {
      await store.close();
    }
  });
});

describe('DuckDB store: the bar query cache', () => {
  it('answers every read as an uncached store does, through appends, corrections, refreshes and SQL', async () => {
    // Two stores take the same writes; one keeps no results and refreshes each series whole
    // (SQL that is not a SELECT before each refresh makes it forget what it refreshed). After
    // every step, a spread of queries (both orders, ranges, limits, indicators, the full column
    // set) must read the same from both, to the bit: from the cache, or a result re-read from
    // the time it went stale, over indicator rows replaced from the first bar written on.
    const cached = await openStoreAt(join(tempDir(), 'cache-on.duckdb'));
    const plain = await openStoreAt(join(tempDir(), 'cache-off.duckdb'), {
      queryCacheMB: 0,
    });
    const rand = seededRandom(11);
    const day = 86_400_000;
    const t0 = Date.UTC(2024, 0, 1);
    const bar = (d: number, close: number, source = 'test', symbol = 'CCH'): Bar => ({
      symbol,
      interval: '1d',
      ts: t0 + d * day,
      open: close,
      high: close + 1,
      low: close - 1,
      close,
      volume: 10 + d,
      adjClose: null,
      source,
    });
    const key = { symbol: 'CCH', interval: '1d' as const };
    // A second series, refreshed in the same calls: corrected far back while CCH grows at its end,
    // so one refresh replaces the two from different bars.
    const other = { symbol: 'OTH', interval: '1d' as const };
    const queries: [Parameters<Store['readBarColumns']>[0], readonly EnrichedColumn[], boolean][] =
      [
        [key, ENRICHED_COLUMNS, true],
        [key, ['sma_20', 'ema_12'], false],
        [key, ['rsi_14'], true],
        [{ ...key, limit: 30 }, ['ema_12'], true],
        [{ ...key, limit: 30, order: 'desc' }, ['sma_20'], true],
        [{ ...key, from: t0 + 40 * day, limit: 25 }, ['rsi_14'], false],
        [{ ...key, to: t0 + 60 * day, order: 'desc', limit: 10 }, ['ema_12'], true],
        [{ ...key, from: t0 + 20 * day, to: t0 + 90 * day }, ['sma_20'], true],
        [other, ENRICHED_COLUMNS, false],
      ];
    const same = async (step: string) => {
      for (const [q, ind, full] of queries) {
        const a = await cached.readBarColumns(q, ind, full);
        const b = await plain.readBarColumns(q, ind, full);
        expect({ step, q, rows: a.rows }).toEqual({ step, q, rows: b.rows });
        // The source column indexes each result's own list (a patched result keeps the list of
        // the one it was patched from): compared as the names it stands for.
        const values = (s: typeof a, name: string) =>
          name === 'source'
            ? [...s.columns[name]!].map((i) => s.sources[i])
            : [...s.columns[name]!];
        for (const name of Object.keys(b.columns))
          expect({ step, q, name, values: values(a, name) }).toEqual({
            step,
            q,
            name,
            values: values(b, name),
          });
        // And both as the view gives them (its own join; NULL there is NaN in the columns).
        const view = await plain.readEnrichedBars(q, ind);
        const fromView: Record<string, number[]> = {};
        for (const name of ['ts', 'open', 'high', 'low', 'close', 'volume'] as const)
          fromView[name] = view.map((r) => r[name]);
        for (const c of ind) fromView[c] = view.map((r) => r.indicators[c] ?? Number.NaN);
        for (const [name, values] of Object.entries(fromView))
          expect({ step, q, name, values: [...b.columns[name]!] }).toEqual({
            step,
            q,
            name,
            values,
          });
      }
    };
    const both = async (f: (s: Store) => Promise<unknown>) => {
      await f(cached);
      await f(plain);
    };
    const write = (bars: Bar[]) =>
      both((s) => s.write({ raw: [], bars, rejects: [], actions: [], instruments: [] }));
    const refresh = async () => {
      await cached.refreshCurated([key, other]);
      await plain.capability('sql').sql('CHECKPOINT');
      await plain.refreshCurated([key, other]);
    };
    try {
      await write(Array.from({ length: 50 }, (_, d) => bar(d + 20, 100 + d)));
      await write(Array.from({ length: 60 }, (_, d) => bar(d, 50 + d, 'test', 'OTH')));
      await refresh();
      await same('first load');
      let last = 69;
      for (let step = 0; step < 40; step++) {
        const r = rand();
        if (r < 0.35) {
          // New bars after the last (the live case), sometimes not yet refreshed.
          const n = 1 + Math.floor(rand() * 3);
          await write(Array.from({ length: n }, (_, i) => bar(last + 1 + i, 150 + rand() * 10)));
          last += n;
          await write([bar(Math.floor(rand() * 60), 90 + rand() * 20, 'test', 'OTH')]);
        } else if (r < 0.55) {
          // A correction inside the series.
          await write([bar(20 + Math.floor(rand() * (last - 20)), 90 + rand() * 20)]);
        } else if (r < 0.62) {
          // A bar before the first, from another source.
          await write([bar(Math.floor(rand() * 20), 80, 'other')]);
        } else if (r < 0.9) {
          await refresh();
        } else {
          // SQL that changes a bar behind the store's back, then the refresh that follows it.
          const d = 20 + Math.floor(rand() * (last - 20));
          await both((s) =>
            s
              .capability('sql')
              .sql(
                `UPDATE bars SET close = close + 0.5 WHERE symbol = 'CCH' AND ts = epoch_ms(${t0 + d * day})`,
              ),
          );
          await same(`${step}: sql`);
          await refresh();
        }
        await same(`${step} (${r.toFixed(2)})`);
      }
      // The live case, step after step: new bars and a refresh that goes on from the state the
      // one before left (its new rows then come from that refresh, not from DuckDB).
      // Both series grow, so each refresh reads their new bars in one batched read.
      const driver = cached.driver;
      const readSeriesFrom = driver.readSeriesFrom!.bind(driver);
      let batchedReads = 0;
      driver.readSeriesFrom = (keys) => {
        batchedReads++;
        return readSeriesFrom(keys);
      };
      let otherLast = 59;
      for (let step = 0; step < 12; step++) {
        const n = 1 + (step % 3);
        await write(Array.from({ length: n }, (_, i) => bar(last + 1 + i, 140 + rand() * 20)));
        last += n;
        await write([bar(++otherLast, 100 + rand() * 10, 'test', 'OTH')]);
        if (step % 4 === 3) await same(`live ${step}: before its refresh`);
        await refresh();
        await same(`live ${step}`);
      }
      expect(batchedReads).toBeGreaterThan(0);
      // Stale results were re-read in part, and unchanged ones answered from the cache.
      const stats = cached.queryCacheStats();
      expect(stats.stale).toBeGreaterThan(100);
      expect(stats.hits).toBeGreaterThan(0);
    } finally {
      await cached.close();
      await plain.close();
    }
  });

  it('appends a new bar to a cached result in place, never changing what an earlier result shows', async () => {
    const store = await openStoreAt(join(tempDir(), 'in-place.duckdb'));
    try {
      const t0 = Date.UTC(2024, 0, 2, 14, 30);
      const bar = (m: number): Bar => ({
        symbol: 'INP',
        interval: '1m',
        ts: t0 + m * 60_000,
        open: 10 + m,
        high: 11 + m,
        low: 9 + m,
        close: 10.5 + m,
        volume: m,
        adjClose: null,
        source: 'test',
      });
      const write = (bars: Bar[]) =>
        store.write({ raw: [], bars, rejects: [], actions: [], instruments: [] });
      const key = { symbol: 'INP', interval: '1m' as const };
      await write(Array.from({ length: 300 }, (_, m) => bar(m)));
      await store.refreshCurated([key]);
      const read = () => store.readBarColumns(key, ['sma_20', 'ema_12']);
      const copy = (s: Awaited<ReturnType<typeof read>>) =>
        Object.fromEntries(Object.entries(s.columns).map(([k, v]) => [k, [...v]]));
      let before = await read(); // read whole: no room yet
      const kept: [Awaited<ReturnType<typeof read>>, ReturnType<typeof copy>][] = [];
      let inPlace = 0;
      for (let m = 300; m < 340; m++) {
        kept.push([before, copy(before)]);
        await write([bar(m)]);
        await store.refreshCurated([key]);
        const after = await read();
        expect(after.rows).toBe(m + 1);
        expect([...after.columns.close!.subarray(0, m)]).toEqual([...before.columns.close!]);
        if (after.columns.close!.buffer === before.columns.close!.buffer) inPlace++;
        before = after;
      }
      // Every earlier result still shows exactly what it showed.
      for (const [set, values] of kept) expect(copy(set)).toEqual(values);
      expect(inPlace).toBeGreaterThan(30);
    } finally {
      await store.close();
    }
  });
});

describe('DuckDB store: raw responses in parts', () => {
  it('seals a part at its size, reads every response once through the view, and goes on after a reopen', async () => {
    const file = join(tempDir(), 'raw-parts.duckdb');
    // Each body a quarter of a part: a new part every fourth write.
    const body = (i: number) => `${i}:`.padEnd(RAW_PART_BYTES / 4, 'x');
    const response = (i: number) => ({
      source: 'yahoo',
      request: `chart/S${i}`,
      status: 200,
      receivedAt: 1_700_000_000_000 + i,
      body: body(i),
    });
    const write = (store: Store, ids: number[]) =>
      store.write({ raw: ids.map(response), bars: [], rejects: [], actions: [], instruments: [] });
    const read = async (store: Store) => {
      const sql = store.capability('sql');
      const rows = (
        await sql.sql('SELECT request, strlen(body) AS n FROM raw_responses ORDER BY request')
      ).rows;
      const parts = (
        await sql.sql(
          "SELECT count(*) AS n FROM duckdb_tables() WHERE regexp_full_match(table_name, 'raw_responses_[0-9]+')",
        )
      ).rows[0]!.n;
      return { rows, parts: Number(parts) };
    };
    let store = await openStoreAt(file);
    try {
      for (let i = 0; i < 10; i++) await write(store, [i]);
      // The same responses again, whichever part they are in: nothing is stored twice.
      await write(store, [0, 5, 9]);
      const got = await read(store);
      expect(got.rows).toHaveLength(10);
      expect(new Set(got.rows.map((r) => r.request)).size).toBe(10);
      expect(got.rows.every((r) => Number(r.n) === RAW_PART_BYTES / 4)).toBe(true);
      expect(got.parts).toBe(3);
    } finally {
      await store.close();
    }
    store = await openStoreAt(file);
    try {
      // The last part (two bodies in it) takes two more, then a new part begins.
      for (let i = 10; i < 13; i++) await write(store, [i]);
      await write(store, [3, 12]);
      const got = await read(store);
      expect(got.rows).toHaveLength(13);
      expect(got.parts).toBe(4);
      const layers = await store.capability('analytics').layerCounts();
      expect(layers.raw_responses).toBe(13);
    } finally {
      await store.close();
    }
  });
});

describe('DuckDB store: series read from a time, many at once', () => {
  it('answers per key what a full readBarColumns from that time answers', async () => {
    const store = await openStoreAt(join(tempDir(), 'from.duckdb'));
    const driver = store.driver;
    try {
      const T0 = Date.UTC(2024, 0, 2, 14, 30);
      const bars: Bar[] = [];
      for (const symbol of ['AAA', 'BBB', 'CCC']) {
        for (let i = 0; i < 50; i++) {
          bars.push({
            symbol,
            interval: '1m',
            ts: T0 + i * 60_000,
            open: 10 + i,
            high: 11 + i,
            low: 9 + i,
            close: 10.5 + i,
            volume: 100 * i,
            adjClose: i % 3 === 0 ? null : 10.4 + i,
            source: i % 7 === 0 ? 'finnhub-candle' : 'finnhub',
            ...(i % 2 === 0 ? { vwap: 10.2 + i, tradeCount: i } : {}),
            ...(i % 7 === 0 ? { backfilled: true } : {}),
          });
        }
      }
      await store.write({ raw: [], bars, rejects: [], actions: [], instruments: [] });
      const keys: (SeriesKey & { ts: number })[] = [
        { symbol: 'AAA', interval: '1m', ts: T0 + 20 * 60_000 },
        { symbol: 'BBB', interval: '1m', ts: T0 + 20 * 60_000 + 1 },
        { symbol: 'CCC', interval: '1m', ts: T0 - 1 },
        { symbol: 'ZZZ', interval: '1m', ts: T0 },
        { symbol: 'AAA', interval: '1m', ts: T0 + 60 * 60_000 },
      ];
      const sets = await driver.readSeriesFrom!(keys);
      expect(sets.map((s) => s.rows)).toEqual([30, 29, 50, 0, 0]);
      for (const [i, k] of keys.entries()) {
        const one = await driver.readBarColumns({ ...k, from: k.ts }, [], true);
        const got = sets[i]!;
        expect(got.rows).toBe(one.rows);
        for (const [name, col] of Object.entries(one.columns)) {
          if (name === 'source') continue;
          expect([...got.columns[name]!], name).toEqual([...col]);
        }
        const names = (s: typeof one) => [...s.columns.source!].map((x) => s.sources[x]);
        expect(names(got)).toEqual(names(one));
      }
    } finally {
      await store.close();
    }
  });
});
