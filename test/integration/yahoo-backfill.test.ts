/**
 * Yahoo chart source against a local server replaying real recorded
 * responses (test/fixtures/yahoo), through quality into a real DuckDB file.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ingest } from '../../src/pipelines/ingest.ts';
import { YahooSource, yahooWindows } from '../../src/sources/yahoo/yahoo-source.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import { tempDir, withDb } from '../helpers/db.ts';
import {
  fixture,
  type ReplayServer,
  type Step,
  startReplayServer,
} from '../helpers/replay-server.ts';

const AAPL_1D = fixture('yahoo/yahoo-chart-AAPL-1d-2020-08-31_2020-11-06-splits-dividends.json');
const AAPL_1M = fixture('yahoo/yahoo-chart-AAPL-1m-2024-10-02.json');
const WEEKEND = fixture('yahoo/yahoo-chart-AAPL-1m-2025-02-01-weekend-empty.json');
const NOT_FOUND = fixture('yahoo/yahoo-chart-error-SI-not-found.json');
const MSFT = fixture('yahoo/yahoo-chart-MSFT-1d-2021-02-01_2022-01-28-dividends.json');
const GS2C = fixture('yahoo/yahoo-chart-GS2C.DE-1d-5d.json');

const FAST_RETRY = { attempts: 4, baseDelayMs: 5, maxDelayMs: 200, timeoutMs: 400 };
const day = (s: string): number => Date.parse(`${s}T00:00:00Z`);

let dir: string;
let server: ReplayServer | undefined;
beforeEach(() => {
  dir = tempDir();
});
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function backfill(
  routes: Record<string, Step[]>,
  symbols: string[],
  range: { from: number; to: number; interval?: '1d' | '1m' },
) {
  server = await startReplayServer(
    (url) => routes[decodeURIComponent(url.pathname.split('/').pop()!)],
  );
  const store = await openStoreAt(join(dir, 'tickline.duckdb'));
  try {
    const source = new YahooSource({ baseUrl: server.url, retry: FAST_RETRY });
    const interval = range.interval ?? '1d';
    return await ingest(
      symbols.map((symbol) => ({
        source,
        request: { symbol, interval, from: range.from, to: range.to },
      })),
      { store, concurrency: 3 },
    );
  } finally {
    await store.close();
  }
}

describe('yahoo backfill', () => {
  it('stores exactly the non-null bars with adj_close, splits, dividends and the instrument', async () => {
    const summary = await backfill({ AAPL: [{ body: AAPL_1D }] }, ['AAPL'], {
      from: day('2020-08-31'),
      to: day('2020-11-07'),
    });
    expect(summary.failed).toEqual([]);
    const chart = JSON.parse(AAPL_1D).chart.result[0];
    const q = chart.indicators.quote[0];
    const expected = (chart.timestamp as number[])
      .map((t, i) => ({
        t,
        o: q.open[i],
        h: q.high[i],
        l: q.low[i],
        c: q.close[i],
        v: q.volume[i],
        a: chart.indicators.adjclose[0].adjclose[i],
      }))
      .filter((r) => [r.o, r.h, r.l, r.c, r.v].every((x) => x !== null));
    const file = join(dir, 'tickline.duckdb');
    await withDb(file, async (sql) => {
      const rows = await sql(
        `SELECT strftime(ts, '%Y-%m-%d') AS d, open, high, low, close, volume, adj_close FROM bars WHERE symbol = 'AAPL' ORDER BY ts`,
      );
      expect(rows.length).toBe(expected.length);
      expect(rows.length).toBe(49);
      rows.forEach((r, i) => {
        const e = expected[i]!;
        // Daily bars keep the exchange's trading date (America/New_York).
        const nyDate = new Date((e.t - 4 * 3600) * 1000).toISOString().slice(0, 10);
        expect(r.d).toBe(nyDate);
        expect([r.open, r.high, r.low, r.close, r.volume, r.adj_close]).toEqual([
          e.o,
          e.h,
          e.l,
          e.c,
          e.v,
          e.a,
        ]);
      });
      const actions = await sql(
        `SELECT strftime(ts, '%Y-%m-%d') AS d, kind, value FROM corporate_actions ORDER BY ts, kind`,
      );
      expect(actions).toEqual([
        { d: '2020-08-31', kind: 'split', value: 4 },
        { d: '2020-11-06', kind: 'dividend', value: 0.205 },
      ]);
      const [inst] = await sql('SELECT * FROM instruments');
      expect(inst).toEqual({
        symbol: 'AAPL',
        name: 'Apple Inc.',
        exchange: 'NasdaqGS',
        currency: 'USD',
        timezone: 'America/New_York',
      });
      const [raw] = await sql('SELECT source, status, body FROM raw_responses');
      expect(raw).toEqual({ source: 'yahoo', status: 200, body: AAPL_1D });
    });
  });

  it('quarantines the null minute and the bar outside the requested range; stores the rest', async () => {
    const summary = await backfill({ AAPL: [{ body: AAPL_1M }] }, ['AAPL'], {
      from: Date.parse('2024-10-02T00:00:00Z'),
      to: Date.parse('2024-10-03T00:00:00Z'),
      interval: '1m',
    });
    const chart = JSON.parse(AAPL_1M).chart.result[0];
    const q = chart.indicators.quote[0];
    const ts = chart.timestamp as number[];
    const nulls = ts.filter((_, i) =>
      [q.open[i], q.high[i], q.low[i], q.close[i], q.volume[i]].some((x) => x === null),
    ).length;
    const outside = ts.filter((t) => t * 1000 >= Date.parse('2024-10-03T00:00:00Z')).length;
    expect(nulls).toBe(1);
    expect(outside).toBe(1);
    expect(summary.rows).toBe(ts.length - nulls - outside);
    expect(summary.rejectsByRule).toEqual({ missing_value: 1, out_of_range: 1 });
    await withDb(join(dir, 'tickline.duckdb'), async (sql) => {
      const [n] = await sql(
        `SELECT count(*)::INTEGER AS n, min(ts)::VARCHAR AS first FROM bars WHERE interval = '1m'`,
      );
      expect(n).toEqual({ n: 389, first: '2024-10-02 13:30:00' });
      const q = await sql('SELECT rule, payload FROM quarantine ORDER BY rule');
      expect(q.map((r) => r.rule)).toEqual(['missing_value', 'out_of_range']);
      expect(JSON.parse(String(q[0]!.payload)).close).toBeNull();
    });
  });

  it('a weekend request with no timestamps stores nothing and is not a failure', async () => {
    const summary = await backfill({ AAPL: [{ body: WEEKEND }] }, ['AAPL'], {
      from: Date.parse('2025-02-01T00:00:00Z'),
      to: Date.parse('2025-02-02T00:00:00Z'),
      interval: '1m',
    });
    expect(summary.failed).toEqual([]);
    expect(summary.rows).toBe(0);
  });

  it('a 404 "No data found" is a clear per-symbol error; the other symbols are stored', async () => {
    const summary = await backfill(
      { SI: [{ status: 404, body: NOT_FOUND }], MSFT: [{ body: MSFT }], AAPL: [{ body: AAPL_1D }] },
      ['SI', 'MSFT', 'AAPL'],
      { from: day('2020-08-01'), to: day('2022-01-29') },
    );
    expect(summary.failed.map((f) => [f.symbol, f.error])).toEqual([
      ['SI', 'yahoo: SI: No data found, symbol may be delisted'],
    ]);
    expect(summary.results.find((r) => r.symbol === 'MSFT')!.rows).toBe(252);
    expect(summary.results.find((r) => r.symbol === 'AAPL')!.rows).toBe(49);
  });

  it('retries 429 (honouring Retry-After), 5xx, a dropped connection and a slow answer', async () => {
    const started = Date.now();
    const summary = await backfill(
      {
        AAPL: [{ status: 429, headers: { 'retry-after': '1' } }, { body: AAPL_1D }],
        MSFT: [{ status: 503, body: 'unavailable' }, { drop: true }, { body: MSFT }],
        X: [{ delayMs: 1500, body: GS2C }, { body: GS2C }],
      },
      ['AAPL', 'MSFT', 'X'],
      { from: day('2020-08-01'), to: day('2025-10-30') },
    );
    expect(summary.failed).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000); // waited for Retry-After: 1
    expect(summary.results.map((r) => [r.symbol, r.rows])).toEqual([
      ['AAPL', 49],
      ['MSFT', 252],
      ['X', 5],
    ]);
    expect(server!.requests.filter((r) => r.includes('/MSFT?')).length).toBe(3);
    expect(server!.userAgents.every((ua) => /^Mozilla\/5\.0 .*Chrome\//.test(ua))).toBe(true);
  });

  it('gives up after the attempts and reports the last reason', async () => {
    const summary = await backfill({ AAPL: [{ status: 500, body: 'boom' }] }, ['AAPL'], {
      from: day('2020-08-01'),
      to: day('2020-11-07'),
    });
    expect(summary.failed[0]!.error).toMatch(/AAPL failed after 4 attempts: HTTP 500/);
  });

  it('stamps daily bars with the exchange trading date in other time zones (Europe/Berlin)', async () => {
    await backfill({ 'GS2C.DE': [{ body: GS2C }] }, ['GS2C.DE'], {
      from: day('2025-10-20'),
      to: day('2025-10-30'),
    });
    await withDb(join(dir, 'tickline.duckdb'), async (sql) => {
      const rows = await sql(`SELECT strftime(ts, '%Y-%m-%d %H:%M') AS d FROM bars ORDER BY ts`);
      expect(rows.map((r) => r.d)).toEqual([
        '2025-10-23 00:00',
        '2025-10-24 00:00',
        '2025-10-27 00:00',
        '2025-10-28 00:00',
        '2025-10-29 00:00',
      ]);
    });
  });
});

describe('yahoo windows', () => {
  it('splits long intraday ranges into the windows Yahoo allows', () => {
    const from = day('2024-10-01');
    const w1m = yahooWindows({ symbol: 'A', interval: '1m', from, to: from + 20 * 86_400_000 });
    expect(w1m.map(([a, b]) => (b - a) / 86_400_000)).toEqual([7, 7, 6]);
    expect(w1m[1]![0]).toBe(w1m[0]![1]);
    expect(yahooWindows({ symbol: 'A', interval: '1d', from, to: from + 9e11 })).toHaveLength(1);
    expect(
      yahooWindows({ symbol: 'A', interval: '1h', from, to: from + 1000 * 86_400_000 }),
    ).toHaveLength(2);
  });

  it('requests every window with period1/period2, interval and events', async () => {
    server = await startReplayServer(() => [{ body: WEEKEND }]);
    const source = new YahooSource({ baseUrl: server.url, retry: FAST_RETRY });
    const from = day('2025-01-01');
    for await (const _ of source.history({
      symbol: 'AAPL',
      interval: '1m',
      from,
      to: from + 10 * 86_400_000,
    })) {
      // drain
    }
    expect(server.requests).toEqual([
      `/v8/finance/chart/AAPL?period1=${from / 1000}&period2=${from / 1000 + 7 * 86400}&interval=1m&events=div%2Csplits&includeAdjustedClose=true`,
      `/v8/finance/chart/AAPL?period1=${from / 1000 + 7 * 86400}&period2=${from / 1000 + 10 * 86400}&interval=1m&events=div%2Csplits&includeAdjustedClose=true`,
    ]);
  });
});
