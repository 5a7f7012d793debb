/**
 * The contract every store passes. A new store adds one test file that calls
 * `storeContract(name, open)`. Every method of the core contract is
 * exercised, and every method of each capability the store declares; the
 * assertions are exact rows read back through the contract itself (no
 * store's SQL), so the same file runs against DuckDB, PostgreSQL and
 * Cassandra.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/core/random.ts';
import { type Bar, type Quarantined, type Trade, tradeContentId } from '../../src/core/records.ts';
import {
  CAPABILITY_METHODS,
  CapabilityError,
  type CapabilityName,
  type Store,
  type WriteBatch,
} from '../../src/store/store.ts';
import { ENRICHED_COLUMNS, enrichSeries } from '../../src/transform/enrich.ts';
import { tempDir } from '../helpers/db.ts';
import { storeSnapshot } from '../helpers/store-snapshot.ts';

const T0 = Date.UTC(2024, 0, 2);
const DAY = 86_400_000;
const bar = (i: number, close = 100 + i, symbol = 'AAA'): Bar => ({
  symbol,
  interval: '1d',
  ts: T0 + i * DAY,
  open: close - 0.5,
  high: close + 1,
  low: close - 1,
  close,
  volume: 1000 + i,
  adjClose: i % 2 ? null : close * 0.98,
  source: 'test',
});
const reject = (payload: string): Quarantined => ({
  stage: 'validate',
  source: 'test',
  symbol: 'AAA',
  rule: 'non_positive_price',
  message: 'close is -1',
  payload,
  receivedAt: T0,
});
const trade = (i: number, symbol = 'AAA', id = `t${i}`): Trade => ({
  symbol,
  ts: T0 + Math.floor(i / 2) * 1000,
  price: 100 + i / 100,
  size: i + 1,
  conditions: i % 3 ? '' : '1,12',
  tradeId: id,
  source: 'test',
});
const batch = (p: Partial<WriteBatch>): WriteBatch => ({
  raw: [],
  bars: [],
  rejects: [],
  actions: [],
  instruments: [],
  ...p,
});

export function storeContract(
  name: string,
  open: () => Promise<Store>,
  opts: { bulkRows?: number } = {},
): void {
  const has = (s: Store, c: CapabilityName) => s.capabilities().includes(c);
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    it('round-trips bars exactly, in ts order', async () => {
      const bars = [bar(2), bar(0), bar(1, 100.123456789012)];
      expect(await store.write(batch({ bars }))).toEqual({
        barsChanged: 3,
        quarantined: 0,
        tradesInserted: 0,
      });
      const back = await store.readBars({ symbol: 'AAA', interval: '1d' });
      expect(back).toEqual([bar(0), bar(1, 100.123456789012), bar(2)]);
      expect(
        await store.readBars({ symbol: 'AAA', interval: '1d', from: T0 + DAY, to: T0 + 2 * DAY }),
      ).toEqual([bar(1, 100.123456789012)]);
      // Newest first: the last `limit` bars before `to`.
      expect(
        await store.readBars({ symbol: 'AAA', interval: '1d', order: 'desc', limit: 2 }),
      ).toEqual([bar(2), bar(1, 100.123456789012)]);
    });

    it('stores trades once per (symbol, ts, tradeId), whatever the delivery order', async () => {
      const all = Array.from({ length: 50 }, (_, i) => trade(i, i % 2 ? 'AAA' : 'BBB'));
      expect((await store.write(batch({ trades: all.slice(0, 30) }))).tradesInserted).toBe(30);
      // Redelivery overlapping what is stored, reversed, with a repeat inside the batch.
      const again = [...all.slice(20), all[45]!].reverse();
      expect((await store.write(batch({ trades: again }))).tradesInserted).toBe(20);
      expect((await store.write(batch({ trades: all }))).tradesInserted).toBe(0);
      const aaa = await store.readTrades({ symbol: 'AAA' });
      expect(aaa).toEqual(all.filter((t) => t.symbol === 'AAA'));
      const window = await store.readTrades({ symbol: 'BBB', from: T0 + 2000, to: T0 + 4000 });
      expect(window.map((t) => t.tradeId)).toEqual(['t4', 't6']);
    });

    it('stores trades with content ids and any conditions exactly, once, in order or not', async () => {
      // Content ids (as the validator gives trades without one) and conditions with quotes,
      // commas, non-ASCII text and none at all; two sources within one symbol's run.
      const conditions = ['', '1,12', "it's", "a''b", '€ 2', ',', ' '];
      const all = Array.from({ length: 400 }, (_, i): Trade => {
        const t = {
          ...trade(i, i % 3 ? 'AAA' : 'BBB'),
          conditions: conditions[i % conditions.length]!,
          source: i % 50 < 5 ? 'replay' : 'test',
        };
        return { ...t, tradeId: tradeContentId(t.ts, t.price, t.size, t.conditions) };
      });
      expect((await store.write(batch({ trades: all.slice(0, 150) }))).tradesInserted).toBe(150);
      const again = [...all.slice(100)].reverse();
      expect((await store.write(batch({ trades: again }))).tradesInserted).toBe(250);
      expect((await store.write(batch({ trades: all }))).tradesInserted).toBe(0);
      const byKey = (a: Trade, b: Trade) => a.ts - b.ts || (a.tradeId < b.tradeId ? -1 : 1);
      for (const symbol of ['AAA', 'BBB']) {
        const want = all.filter((t) => t.symbol === symbol).sort(byKey);
        expect(await store.readTrades({ symbol, limit: 1000 })).toEqual(want);
      }
    });

    it('stores a write of many symbols in short runs, and of more symbols than it codes', async () => {
      // A thousand symbols' runs of a few trades each (the live path with many symbols), then
      // over 4096 symbols in one write (their codes no longer fit: the write goes as strings).
      for (const count of [1_000, 4_200]) {
        const all = Array.from({ length: count * 3 }, (_, i): Trade => {
          const t = { ...trade(i), symbol: `S${count}X${i % count}`, ts: T0 + i };
          return { ...t, tradeId: tradeContentId(t.ts, t.price, t.size, t.conditions) };
        });
        expect((await store.write(batch({ trades: all }))).tradesInserted).toBe(all.length);
        expect((await store.write(batch({ trades: all }))).tradesInserted).toBe(0);
        for (const k of [0, 1, count - 1]) {
          const symbol = `S${count}X${k}`;
          expect(await store.readTrades({ symbol })).toEqual(
            all.filter((t) => t.symbol === symbol),
          );
        }
      }
    });

    it('stores a write with more distinct conditions than it codes', async () => {
      const all = Array.from({ length: 5000 }, (_, i): Trade => {
        const t = { ...trade(i), ts: T0 + i, conditions: `c${i}` };
        return { ...t, tradeId: tradeContentId(t.ts, t.price, t.size, t.conditions) };
      });
      expect((await store.write(batch({ trades: all }))).tradesInserted).toBe(5000);
      expect((await store.write(batch({ trades: all }))).tradesInserted).toBe(0);
      expect(await store.readTrades({ symbol: 'AAA', limit: 5000 })).toEqual(all);
    });

    it('tells a new trade from a stored one at the newest stored ts', async () => {
      const at = (id: string): Trade => ({ ...trade(0), ts: T0 + 5_000, tradeId: id });
      await store.write(batch({ trades: [at('a'), at('b')] }));
      // The next write starts at the same millisecond: one id is stored, one is new.
      expect(
        (await store.write(batch({ trades: [at('b'), at('c'), trade(20)] }))).tradesInserted,
      ).toBe(2);
      expect((await store.write(batch({ trades: [at('c'), at('d')] }))).tradesInserted).toBe(1);
      expect((await store.readTrades({ symbol: 'AAA' })).map((t) => t.tradeId)).toEqual([
        'a',
        'b',
        'c',
        'd',
        't20',
      ]);
    });

    it('keeps vwap, trade count and the backfilled mark of live bars, and updates a corrected bar', async () => {
      const live: Bar = { ...bar(0), interval: '1m', vwap: 100.25, tradeCount: 7 };
      const filled: Bar = { ...bar(1), interval: '1m', adjClose: null, backfilled: true };
      await store.write(batch({ bars: [live, filled] }));
      expect(await store.readBars({ symbol: 'AAA', interval: '1m' })).toEqual([live, filled]);
      const corrected = { ...live, high: live.high + 1, vwap: 100.5, tradeCount: 8 };
      expect((await store.write(batch({ bars: [corrected] }))).barsChanged).toBe(1);
      expect(await store.readBars({ symbol: 'AAA', interval: '1m' })).toEqual([corrected, filled]);
    });

    it('is idempotent: the same write twice changes nothing; a changed value is updated', async () => {
      const bars = [bar(0), bar(1)];
      await store.write(batch({ bars, rejects: [reject('x')] }));
      expect(await store.write(batch({ bars, rejects: [reject('x')] }))).toEqual({
        barsChanged: 0,
        quarantined: 0,
        tradesInserted: 0,
      });
      expect(await store.write(batch({ bars: [bar(1, 150)] }))).toEqual({
        barsChanged: 1,
        quarantined: 0,
        tradesInserted: 0,
      });
      expect((await store.readBars({ symbol: 'AAA', interval: '1d' })).map((b) => b.close)).toEqual(
        [100, 150],
      );
      // The reject has no interval (as a trade's): a row of its own.
      expect((await store.status()).map((s) => [s.symbol, s.interval, s.rows, s.rejects])).toEqual([
        ['AAA', '1d', 2, 0],
        ['AAA', '-', 0, 1],
      ]);
    });

    it('never stores a key twice, across many writes of many series, in or out of order', async () => {
      const a = Array.from({ length: 50 }, (_, i) => bar(i));
      const b = Array.from({ length: 50 }, (_, i) => bar(i, 100 + i, 'BBB'));
      await store.write(batch({ bars: [...a.slice(0, 30), ...b.slice(10, 20)] }));
      await store.write(batch({ bars: [...b, ...a.slice(20)] }));
      // Out of order, with a repeated key in the same write: the first occurrence wins.
      await store.write(batch({ bars: [bar(3, 500), ...a.slice().reverse(), bar(3, 600)] }));
      expect((await store.status()).map((s) => [s.symbol, s.rows])).toEqual([
        ['AAA', 50],
        ['BBB', 50],
      ]);
      const aaa = await store.readBars({ symbol: 'AAA', interval: '1d' });
      expect(aaa.map((x) => x.close)).toEqual(a.map((x, i) => (i === 3 ? 500 : x.close)));
      expect(await store.readBars({ symbol: 'BBB', interval: '1d' })).toEqual(b);
    });

    it('finds the last bar before a time and reports status per series', async () => {
      await store.write(batch({ bars: [bar(0), bar(1), bar(5, 200, 'BBB')] }));
      const last = await store.lastBarsBefore([
        { symbol: 'AAA', interval: '1d', ts: T0 + 10 * DAY },
        { symbol: 'AAA', interval: '1d', ts: T0 },
        { symbol: 'BBB', interval: '1d', ts: T0 + 5 * DAY + 1 },
        { symbol: 'AAA', interval: '1d', ts: T0 + DAY },
      ]);
      expect(last).toEqual([bar(1), null, bar(5, 200, 'BBB'), bar(0)]);
      expect(await store.status()).toEqual([
        { symbol: 'AAA', interval: '1d', rows: 2, firstTs: T0, lastTs: T0 + DAY, rejects: 0 },
        {
          symbol: 'BBB',
          interval: '1d',
          rows: 1,
          firstTs: T0 + 5 * DAY,
          lastTs: T0 + 5 * DAY,
          rejects: 0,
        },
      ]);
    });

    it('counts rejects per symbol and interval; those of no interval (trades) on a row of their own', async () => {
      const hourly = (i: number): Bar => ({ ...bar(i), interval: '1h', ts: T0 + i * 3_600_000 });
      await store.write(
        batch({
          bars: [bar(0), bar(1), hourly(0)],
          rejects: [
            { ...reject('d1'), interval: '1d' },
            { ...reject('d2'), interval: '1d' },
            { ...reject('h1'), interval: '1h' },
            { ...reject('t1'), rule: 'late_trade' }, // a trade: no interval
            { ...reject('w1'), symbol: 'BBB', interval: '1wk' }, // rejects only
          ],
        }),
      );
      const status = (await store.status()).map((s) => [s.symbol, s.interval, s.rows, s.rejects]);
      expect(status).toEqual([
        ['AAA', '1d', 2, 2],
        ['AAA', '1h', 1, 1],
        ['AAA', '-', 0, 1],
        ['BBB', '1wk', 0, 1],
      ]);
    });

    it('counts stored trades per symbol on the row of no interval, with their first and last ts', async () => {
      const trades = Array.from({ length: 7 }, (_, i) => trade(i, i < 5 ? 'AAA' : 'BBB'));
      await store.write(batch({ trades, rejects: [{ ...reject('t1'), rule: 'late_trade' }] }));
      const status = (await store.status()).map((s) => [
        s.symbol,
        s.interval,
        s.rows,
        s.firstTs,
        s.lastTs,
        s.rejects,
      ]);
      expect(status).toEqual([
        ['AAA', '-', 5, trades[0]!.ts, trades[4]!.ts, 1],
        ['BBB', '-', 2, trades[5]!.ts, trades[6]!.ts, 0],
      ]);
    });

    it('reads bar columns by range, order and limit, with curated indicators equal to the kernels', async () => {
      const rand = seededRandom(5);
      let close = 100;
      const bars = Array.from({ length: 260 }, (_, i) => {
        close *= 1 + (rand() - 0.5) / 50;
        return { ...bar(i, close), high: close + 1 + rand(), low: close - 1 - rand() };
      });
      await store.write(batch({ bars }));
      const key = { symbol: 'AAA', interval: '1d' as const };
      // Before a refresh there are no indicator values: NaN.
      const bare = await store.readBarColumns(key, ['sma_20']);
      expect(bare.rows).toBe(260);
      expect([...bare.columns.sma_20!].every(Number.isNaN)).toBe(true);
      await store.refreshCurated([key]);
      const want = enrichSeries({
        high: Float64Array.from(bars, (b) => b.high),
        low: Float64Array.from(bars, (b) => b.low),
        close: Float64Array.from(bars, (b) => b.close),
      });
      const all = await store.readBarColumns(key, ENRICHED_COLUMNS, true);
      expect(all.rows).toBe(260);
      expect([...all.columns.ts!]).toEqual(bars.map((b) => b.ts));
      expect([...all.columns.close!]).toEqual(bars.map((b) => b.close));
      for (const c of ENRICHED_COLUMNS) expect([...all.columns[c]!]).toEqual([...want[c]]);
      expect(all.sources).toEqual(['test']);
      expect([...all.columns.source!].every((x) => x === 0)).toBe(true);
      // A range, newest first, limited: the last 5 bars before `to`.
      const page = await store.readBarColumns(
        { ...key, from: bars[100]!.ts, to: bars[200]!.ts, order: 'desc', limit: 5 },
        ['macd_hist', 'bb_middle'],
      );
      expect([...page.columns.ts!]).toEqual(
        bars
          .slice(195, 200)
          .reverse()
          .map((b) => b.ts),
      );
      expect([...page.columns.macd_hist!]).toEqual([...want.macd_hist.slice(195, 200).reverse()]);
      expect([...page.columns.bb_middle!]).toEqual([...want.bb_middle.slice(195, 200).reverse()]);
      // Enriched bars: the same values, NULL (null) where a window is not full.
      const enriched = await store.readEnrichedBars({ ...key, limit: 30 }, ['sma_20', 'rsi_14']);
      expect(enriched[18]!.indicators.sma_20).toBeNull();
      expect(enriched[19]!.indicators.sma_20).toBe(want.sma_20[19]);
      expect(enriched[29]!.indicators.rsi_14).toBe(want.rsi_14[29]);
      expect(enriched[29]).toMatchObject(bars[29]!);
      // Live growth: new bars and a correction, refreshed again, still equal to the kernels.
      const more = Array.from({ length: 15 }, (_, i) => bar(260 + i, 120 + i));
      await store.write(batch({ bars: [...more, { ...bars[255]!, close: 99 }] }));
      await store.refreshCurated([key]);
      const grown = [
        ...bars.slice(0, 255),
        { ...bars[255]!, close: 99 },
        ...bars.slice(256),
        ...more,
      ];
      const want2 = enrichSeries({
        high: Float64Array.from(grown, (b) => b.high),
        low: Float64Array.from(grown, (b) => b.low),
        close: Float64Array.from(grown, (b) => b.close),
      });
      const after = await store.readBarColumns(key, ENRICHED_COLUMNS);
      for (const c of ENRICHED_COLUMNS) expect([...after.columns[c]!]).toEqual([...want2[c]]);
      await expect(store.readBarColumns(key, ['nope' as 'sma_20'])).rejects.toThrow(
        /unknown indicator column nope/,
      );
    });

    it('pages trades by (ts, tradeId)', async () => {
      const all = Array.from({ length: 40 }, (_, i) => ({
        ...trade(i),
        ts: T0 + Math.floor(i / 4),
      }));
      await store.write(batch({ trades: all }));
      const byKey = (a: Trade, b: Trade) => a.ts - b.ts || (a.tradeId < b.tradeId ? -1 : 1);
      const want = [...all].sort(byKey);
      const got: Trade[] = [];
      let after: { ts: number; tradeId: string } | undefined;
      for (;;) {
        const page = await store.readTrades({
          symbol: 'AAA',
          limit: 7,
          ...(after ? { after } : {}),
        });
        if (page.length === 0) break;
        got.push(...page);
        const last = page.at(-1)!;
        after = { ts: last.ts, tradeId: last.tradeId };
      }
      expect(got).toEqual(want);
    });

    it('replays every kind of record twice and reads back the same', async () => {
      const mixed = batch({
        raw: [
          { source: 'test', request: 'GET /a', status: 200, receivedAt: T0, body: '{"a":1}' },
          { source: 'test', request: 'GET /b', status: 404, receivedAt: T0 + 1, body: 'no\ttab' },
        ],
        bars: Array.from({ length: 40 }, (_, i) => bar(i, 100 + Math.sin(i))),
        rejects: [reject('r1'), { ...reject('r2'), interval: '1d' }],
        actions: [
          { symbol: 'AAA', ts: T0 + 5 * DAY, kind: 'dividend', value: 0.24, source: 'test' },
          { symbol: 'AAA', ts: T0 + 9 * DAY, kind: 'split', value: 4, source: 'test' },
        ],
        instruments: [
          {
            symbol: 'AAA',
            name: 'Triple A',
            exchange: 'NMS',
            currency: 'USD',
            timezone: 'America/New_York',
          },
        ],
        trades: Array.from({ length: 30 }, (_, i) => trade(i)),
      });
      const first = await store.write(mixed);
      expect(first).toEqual({ barsChanged: 40, quarantined: 2, tradesInserted: 30 });
      await store.refreshCurated([{ symbol: 'AAA', interval: '1d' }]);
      const once = await storeSnapshot(store);
      expect(await store.write(mixed)).toEqual({
        barsChanged: 0,
        quarantined: 0,
        tradesInserted: 0,
      });
      await store.refreshCurated([{ symbol: 'AAA', interval: '1d' }]);
      expect(await storeSnapshot(store)).toEqual(once);
      if (has(store, 'analytics')) {
        expect(await store.capability('analytics').layerCounts()).toMatchObject({
          raw_responses: 2,
          bars: 40,
          trades: 30,
          corporate_actions: 2,
          quarantine: 2,
          bar_indicators: 40,
        });
      }
    });

    it('writes a bulk load exactly once, and its replay changes nothing', async () => {
      const N = opts.bulkRows ?? 60_000;
      const bars = ['AAA', 'BBB', 'CCC'].flatMap((symbol) =>
        Array.from({ length: N }, (_, i) => ({
          ...bar(i, 100 + (i % 1000) / 8, symbol),
          interval: '1m' as const,
          ts: T0 + i * 60_000,
          ...(i % 3 === 0 ? { vwap: 101.5, tradeCount: i % 50 } : {}),
        })),
      );
      expect((await store.write(batch({ bars }))).barsChanged).toBe(3 * N);
      const T = Math.min(150_000, 2 * N);
      const trades = Array.from({ length: T }, (_, i) => trade(i, i % 3 ? 'AAA' : 'BBB'));
      expect((await store.write(batch({ trades }))).tradesInserted).toBe(T);
      const rowsOf = async () =>
        (await store.status()).map((s) => [s.symbol, s.interval, s.rows, s.firstTs, s.lastTs]);
      // Each symbol's bars, then its trades (the row of no interval), counted in full.
      const tradesRow = (s: string) => {
        const ts = trades.filter((t) => t.symbol === s).map((t) => t.ts);
        const lo = ts.reduce((a, b) => Math.min(a, b), Infinity);
        const hi = ts.reduce((a, b) => Math.max(a, b), -Infinity);
        return ts.length ? [[s, '-', ts.length, lo, hi]] : [];
      };
      const want = ['AAA', 'BBB', 'CCC'].flatMap((s) => [
        [s, '1m', N, T0, T0 + (N - 1) * 60_000],
        ...tradesRow(s),
      ]);
      expect(await rowsOf()).toEqual(want);
      for (const [k, symbol] of ['AAA', 'BBB', 'CCC'].entries()) {
        const back = await store.readBars({ symbol, interval: '1m' });
        expect(back).toEqual(bars.slice(k * N, (k + 1) * N));
      }
      const bbb = trades.filter((t) => t.symbol === 'BBB');
      expect(await store.readTrades({ symbol: 'BBB' })).toEqual(bbb);
      expect((await store.write(batch({ bars, trades }))).barsChanged).toBe(0);
      expect((await store.write(batch({ trades }))).tradesInserted).toBe(0);
      expect(await rowsOf()).toEqual(want);
      // A bulk correction: every 1000th bar changed, the rest as stored.
      const fixed = bars.map((b, i) =>
        i % 1000 === 0 ? { ...b, close: b.close + 1, vwap: 7 } : b,
      );
      expect((await store.write(batch({ bars: fixed }))).barsChanged).toBe((3 * N) / 1000);
      expect(await store.readBars({ symbol: 'CCC', interval: '1m' })).toEqual(fixed.slice(2 * N));
      expect(await rowsOf()).toEqual(want);
    });

    it('answers bar column reads with what is stored now, after every kind of write', async () => {
      const key = { symbol: 'AAA', interval: '1d' as const };
      const closes = async () => [
        ...(await store.readBarColumns(key, ['sma_20'], true)).columns.close!,
      ];
      const sma = async () => (await store.readBarColumns(key, ['sma_20'], true)).columns.sma_20!;
      await store.write(batch({ bars: Array.from({ length: 25 }, (_, i) => bar(i)) }));
      await store.refreshCurated([key]);
      expect(await closes()).toEqual(Array.from({ length: 25 }, (_, i) => 100 + i));
      expect((await sma())[24]).toBeCloseTo(114.5, 9);
      // The same read again (a cache hit where the store has a cache) gives the same answer.
      expect(await closes()).toEqual(Array.from({ length: 25 }, (_, i) => 100 + i));
      // A write to the series: a corrected bar and a new one, from another source.
      await store.write(batch({ bars: [bar(24, 200), { ...bar(25), source: 'other' }] }));
      expect((await closes()).slice(-2)).toEqual([200, 125]);
      expect((await store.readBars({ ...key, from: T0 + 25 * DAY }))[0]!.source).toBe('other');
      // A curated refresh changes the indicator columns.
      await store.refreshCurated([key]);
      expect((await sma())[24]).toBeCloseTo(114.5 + 76 / 20, 9);
      // A write to another series leaves this one as it is.
      await store.write(batch({ bars: [bar(0, 50, 'BBB')] }));
      expect((await closes()).length).toBe(26);
      const page = await store.readBarColumns({ ...key, limit: 3, order: 'desc' }, [], true);
      expect([...page.columns.close!]).toEqual([125, 200, 123]);
      const stats = store.queryCacheStats?.();
      if (stats && stats.maxBytes > 0) expect(stats.hits).toBeGreaterThanOrEqual(2);
    });

    it('answers ping, and names a capability it lacks', async () => {
      await store.ping();
      const all = Object.keys(CAPABILITY_METHODS) as CapabilityName[];
      for (const c of all) {
        if (has(store, c)) {
          for (const m of CAPABILITY_METHODS[c]) {
            expect(
              typeof (store.capability(c) as unknown as Record<string, unknown>)[m as string],
            ).toBe('function');
          }
        } else {
          expect(() => store.capability(c)).toThrow(CapabilityError);
          expect(() => store.capability(c)).toThrow(/: not available on the \w+ store$/);
        }
      }
    });

    describe('capability: quarantine admin', () => {
      it('looks up, lists by every filter, counts and deletes quarantined records', async (ctx) => {
        if (!has(store, 'quarantine')) return ctx.skip();
        const q = store.capability('quarantine');
        await store.write(
          batch({
            rejects: [
              reject('a,b'),
              { ...reject('c,d'), receivedAt: T0 + 10 },
              {
                ...reject('e'),
                rule: 'missing_value',
                symbol: 'BBB',
                stage: 'parse',
                receivedAt: T0 + 20,
              },
              { ...reject('f'), symbol: null, interval: '1d', receivedAt: T0 + 30 },
            ],
          }),
        );
        const rows = await q.readQuarantine({ rule: 'non_positive_price' });
        expect(rows.map((r) => r.payload)).toEqual(['f', 'c,d', 'a,b']); // newest first
        expect((await q.readQuarantine({ symbol: 'BBB' })).map((r) => r.rule)).toEqual([
          'missing_value',
        ]);
        expect((await q.readQuarantine({ stage: 'parse' })).map((r) => r.payload)).toEqual(['e']);
        expect((await q.readQuarantine({ interval: '1d' })).map((r) => r.payload)).toEqual(['f']);
        expect(
          (await q.readQuarantine({ from: T0 + 10, to: T0 + 30 })).map((r) => r.payload),
        ).toEqual(['e', 'c,d']);
        expect((await q.readQuarantine({ limit: 2 })).map((r) => r.payload)).toEqual(['f', 'e']);
        expect(await q.rejectCounts()).toEqual({ missing_value: 1, non_positive_price: 3 });
        const one = rows[1]!;
        expect(await q.getQuarantine(one.id)).toEqual(one);
        expect(one).toEqual({ ...reject('c,d'), receivedAt: T0 + 10, id: one.id, interval: null });
        expect(await q.deleteQuarantine(one.id)).toBe(true);
        expect(await q.deleteQuarantine(one.id)).toBe(false);
        expect(await q.getQuarantine(one.id)).toBeNull();
        expect(await q.rejectCounts()).toEqual({ missing_value: 1, non_positive_price: 2 });
        // A record quarantined again without an interval keeps the one it has; one with gets it.
        await store.write(batch({ rejects: [reject('a,b'), { ...reject('e2'), interval: '1h' }] }));
        await store.write(batch({ rejects: [{ ...reject('e2') }] }));
        const e2 = (await q.readQuarantine({ rule: 'non_positive_price' })).find(
          (r) => r.payload === 'e2',
        );
        expect(e2?.interval).toBe('1h');
      });
    });

    describe('capability: API keys', () => {
      it('stores, finds, lists newest first and revokes keys once', async (ctx) => {
        if (!has(store, 'keys')) return ctx.skip();
        const k = store.capability('keys');
        const key = (id: string, at: number) => ({
          id,
          name: id === 'k1' ? null : `key ${id}`,
          scope: (id === 'k2' ? 'admin' : 'read') as 'admin' | 'read',
          salt: `salt-${id}`,
          hash: `hash-${id}`,
          createdAt: at,
          revokedAt: null,
        });
        await k.putApiKey(key('k1', T0));
        await k.putApiKey(key('k2', T0 + 1000));
        expect(await k.getApiKey('k1')).toEqual(key('k1', T0));
        expect(await k.getApiKey('nope')).toBeNull();
        expect((await k.listApiKeys()).map((x) => x.id)).toEqual(['k2', 'k1']);
        expect(await k.revokeApiKey('k1')).toBe(true);
        expect(await k.revokeApiKey('k1')).toBe(false);
        expect(await k.revokeApiKey('nope')).toBe(false);
        const revoked = await k.getApiKey('k1');
        expect(revoked?.revokedAt).toBeGreaterThan(0);
        expect({ ...revoked, revokedAt: null }).toEqual(key('k1', T0));
      });
    });

    describe('capability: SQL console', () => {
      it('answers a query, and a statement that writes drops what was read before', async (ctx) => {
        if (!has(store, 'sql')) return ctx.skip();
        const sql = store.capability('sql');
        const one = await sql.sql('SELECT 1 AS one');
        expect(one.columns).toEqual(['one']);
        expect(one.rows).toEqual([{ one: 1 }]);
        await expect(sql.sql('SELEC nonsense')).rejects.toThrow(/^SQL failed: /);
        const key = { symbol: 'AAA', interval: '1d' as const };
        await store.write(batch({ bars: Array.from({ length: 25 }, (_, i) => bar(i)) }));
        await store.refreshCurated([key]);
        const closes = async () => [
          ...(await store.readBarColumns(key, ['sma_20'], true)).columns.close!,
        ];
        expect((await closes()).length).toBe(25);
        await sql.sql('SELECT count(*) AS n FROM bars');
        expect((await closes()).length).toBe(25);
        await sql.sql(`DELETE FROM bars WHERE symbol = 'AAA' AND ts >= TIMESTAMP '2024-01-20'`);
        expect(await closes()).toEqual(Array.from({ length: 18 }, (_, i) => 100 + i));
        await store.refreshCurated([key]);
        expect((await store.readBarColumns(key, ['sma_20'])).columns.sma_20![17]).toBeNaN();
      });
    });

    describe('capability: analytics', () => {
      it('buckets rejects per rule over time and counts rows per layer', async (ctx) => {
        if (!has(store, 'analytics')) return ctx.skip();
        const a = store.capability('analytics');
        await store.write(
          batch({
            rejects: [
              reject('1'),
              { ...reject('2'), receivedAt: T0 + 59_999 },
              { ...reject('3'), receivedAt: T0 + 60_000, rule: 'missing_value' },
              { ...reject('4'), receivedAt: T0 + 180_000 },
            ],
          }),
        );
        expect(await a.rejectHistogram(60_000)).toEqual([
          { ts: T0, rule: 'non_positive_price', n: 2 },
          { ts: T0 + 60_000, rule: 'missing_value', n: 1 },
          { ts: T0 + 180_000, rule: 'non_positive_price', n: 1 },
        ]);
        expect(await a.rejectHistogram(60_000, { from: T0 + 60_000, to: T0 + 120_000 })).toEqual([
          { ts: T0 + 60_000, rule: 'missing_value', n: 1 },
        ]);
        expect(await a.rejectHistogram(60_000, { rule: 'non_positive_price' })).toEqual([
          { ts: T0, rule: 'non_positive_price', n: 2 },
          { ts: T0 + 180_000, rule: 'non_positive_price', n: 1 },
        ]);
        expect(await a.rejectHistogram(60_000, { symbol: 'ZZZ' })).toEqual([]);
        expect((await a.layerCounts()).quarantine).toBe(4);
      });
    });

    describe('capability: lake export', () => {
      it('writes a filtered file and a partitioned layer', async (ctx) => {
        if (!has(store, 'export')) return ctx.skip();
        const e = store.capability('export');
        await store.write(batch({ bars: Array.from({ length: 10 }, (_, i) => bar(i)) }));
        const dir = tempDir();
        const file = join(dir, 'aaa.csv');
        expect(
          await e.exportFile({ layer: 'staging', format: 'csv', symbol: 'AAA', limit: 4, file }),
        ).toBe(4);
        expect(existsSync(file)).toBe(true);
        const files = await e.exportLake({ layer: 'staging', format: 'parquet', outDir: dir });
        expect(files.some((f) => f.includes('symbol=AAA') && f.endsWith('.parquet'))).toBe(true);
      });
    });
  });
}
