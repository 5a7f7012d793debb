/**
 * The contract every Store implementation must pass. A new store adds one
 * test file that calls `storeContract(name, open)`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bar, type Quarantined, type Trade, tradeContentId } from '../../src/core/records.ts';
import type { Store, WriteBatch } from '../../src/store/store.ts';

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

export function storeContract(name: string, open: () => Promise<Store>): void {
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
      expect(await store.capability('quarantine').rejectCounts()).toEqual({ non_positive_price: 1 });
    });

    it('never stores a key twice, across many writes of many series, in or out of order', async () => {
      const a = Array.from({ length: 50 }, (_, i) => bar(i));
      const b = Array.from({ length: 50 }, (_, i) => bar(i, 100 + i, 'BBB'));
      await store.write(batch({ bars: [...a.slice(0, 30), ...b.slice(10, 20)] }));
      await store.write(batch({ bars: [...b, ...a.slice(20)] }));
      // Out of order, with a repeated key in the same write: the first occurrence wins.
      await store.write(batch({ bars: [bar(3, 500), ...a.slice().reverse(), bar(3, 600)] }));
      const res = await store.capability('sql').sql(
        `SELECT count(*) AS n, count(DISTINCT (symbol, interval, ts)) AS k FROM bars`,
      );
      expect(res.rows[0]).toEqual({ n: 100, k: 100 });
      const aaa = await store.readBars({ symbol: 'AAA', interval: '1d' });
      expect(aaa.map((x) => x.close)).toEqual(a.map((x, i) => (i === 3 ? 500 : x.close)));
    });

    it('keeps quarantined records with their payload, filterable by rule and symbol', async () => {
      await store.write(
        batch({
          rejects: [
            reject('a,b'),
            reject('c,d'),
            { ...reject('e'), rule: 'missing_value', symbol: 'BBB' },
          ],
        }),
      );
      const rows = await store.capability('quarantine').readQuarantine({ rule: 'non_positive_price' });
      expect(rows.map((r) => r.payload).sort()).toEqual(['a,b', 'c,d']);
      expect((await store.capability('quarantine').readQuarantine({ symbol: 'BBB' })).map((r) => r.rule)).toEqual([
        'missing_value',
      ]);
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
      const rows = await store.capability('quarantine').readQuarantine({ symbol: 'AAA' });
      expect(Object.fromEntries(rows.map((r) => [r.payload, r.interval]))).toEqual({
        d1: '1d',
        d2: '1d',
        h1: '1h',
        t1: null,
      });
      const daily = await store.capability('quarantine').readQuarantine({ symbol: 'AAA', interval: '1d' });
      expect(daily.map((r) => r.payload).sort()).toEqual(['d1', 'd2']);
    });

    it('refreshes curated indicators per series', async () => {
      await store.write(batch({ bars: Array.from({ length: 30 }, (_, i) => bar(i)) }));
      await store.refreshCurated([{ symbol: 'AAA', interval: '1d' }]);
      const res = await store.capability('sql').sql(
        `SELECT sma_20 FROM bars_enriched WHERE symbol = 'AAA' ORDER BY ts`,
      );
      expect(res.rows[18]!.sma_20).toBeNull();
      expect(res.rows[19]!.sma_20).toBeCloseTo(109.5, 9);
      expect(res.rows[29]!.sma_20).toBeCloseTo(119.5, 9);
    });

    it('writes a bulk load (the parallel path) exactly once, and its replay changes nothing', async () => {
      const N = 60_000;
      const bars = ['AAA', 'BBB', 'CCC'].flatMap((symbol) =>
        Array.from({ length: N }, (_, i) => ({
          ...bar(i, 100 + (i % 1000) / 8, symbol),
          interval: '1m' as const,
          ts: T0 + i * 60_000,
          ...(i % 3 === 0 ? { vwap: 101.5, tradeCount: i % 50 } : {}),
        })),
      );
      expect((await store.write(batch({ bars }))).barsChanged).toBe(3 * N);
      const trades = Array.from({ length: 150_000 }, (_, i) => trade(i, i % 3 ? 'AAA' : 'BBB'));
      expect((await store.write(batch({ trades }))).tradesInserted).toBe(150_000);
      const sums = async () =>
        (
          await store.capability('sql').sql(`SELECT
            (SELECT count(*) FROM bars) AS bars,
            (SELECT count(DISTINCT (symbol, interval, ts)) FROM bars) AS keys,
            (SELECT sum(close * 7 + volume + coalesce(adj_close, 3) + coalesce(vwap, 5) + coalesce(trade_count, 11))
               FROM bars) AS bar_sum,
            (SELECT count(*) FROM trades) AS trades,
            (SELECT sum(price * size) FROM trades) AS trade_sum`)
        ).rows[0];
      const want = {
        bars: 3 * N,
        keys: 3 * N,
        bar_sum: bars.reduce(
          (a, b) =>
            a + b.close * 7 + b.volume + (b.adjClose ?? 3) + (b.vwap ?? 5) + (b.tradeCount ?? 11),
          0,
        ),
        trades: 150_000,
        trade_sum: trades.reduce((a, t) => a + t.price * t.size, 0),
      };
      const first = await sums();
      expect(Number(first!.bars)).toBe(want.bars);
      expect(Number(first!.keys)).toBe(want.keys);
      const near = (a: unknown, b: number) =>
        expect(Math.abs(Number(a) - b) / b).toBeLessThan(1e-12);
      near(first!.bar_sum, want.bar_sum);
      expect(Number(first!.trades)).toBe(want.trades);
      near(first!.trade_sum, want.trade_sum);
      // A few rows back exactly as written.
      for (const i of [0, 1, 12_345, N - 1]) {
        const [got] = await store.readBars({
          symbol: 'BBB',
          interval: '1m',
          from: bars[i]!.ts,
          limit: 1,
        });
        expect(got).toEqual(bars[N + i]);
      }
      expect((await store.write(batch({ bars, trades }))).barsChanged).toBe(0);
      expect((await store.write(batch({ trades }))).tradesInserted).toBe(0);
      // (Sums of doubles may differ in the last bits between two parallel scans.)
      const again = await sums();
      expect([again!.bars, again!.keys, again!.trades]).toEqual([
        first!.bars,
        first!.keys,
        first!.trades,
      ]);
      near(again!.bar_sum, want.bar_sum);
      near(again!.trade_sum, want.trade_sum);
      // A bulk correction: every 1000th bar changed, the rest as stored.
      const fixed = bars.map((b, i) =>
        i % 1000 === 0 ? { ...b, close: b.close + 1, vwap: 7 } : b,
      );
      expect((await store.write(batch({ bars: fixed }))).barsChanged).toBe((3 * N) / 1000);
      const [back] = await store.readBars({
        symbol: 'CCC',
        interval: '1m',
        from: bars[1000]!.ts,
        limit: 1,
      });
      expect(back).toEqual(fixed[2 * N + 1000]);
      expect(Number((await sums())!.bars)).toBe(3 * N);
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
      // A write to the series: a corrected bar and a new one.
      await store.write(batch({ bars: [bar(24, 200), bar(25)] }));
      expect((await closes()).slice(-2)).toEqual([200, 125]);
      // A curated refresh changes the indicator columns.
      await store.refreshCurated([key]);
      expect((await sma())[24]).toBeCloseTo(114.5 + 76 / 20, 9);
      // A write to another series leaves this one as it is.
      await store.write(batch({ bars: [bar(0, 50, 'BBB')] }));
      expect((await closes()).length).toBe(26);
      // A read-only SQL statement changes nothing; one that deletes bars does.
      await store.capability('sql').sql(`SELECT count(*) FROM bars`);
      expect((await closes()).length).toBe(26);
      await store.capability('sql').sql(`DELETE FROM bars WHERE symbol = 'AAA' AND ts >= TIMESTAMP '2024-01-20'`);
      expect(await closes()).toEqual(Array.from({ length: 18 }, (_, i) => 100 + i));
      // Different ranges and limits of the same series are different answers.
      const page = await store.readBarColumns({ ...key, limit: 3, order: 'desc' }, [], true);
      expect([...page.columns.close!]).toEqual([117, 116, 115]);
      const stats = store.queryCacheStats?.();
      if (stats) expect(stats.hits).toBeGreaterThanOrEqual(2);
    });
  });
}
