/**
 * Every store end to end through the real binary: `--store postgres://…` and
 * `--store cassandra://…` (and the embedded default for reference). The same
 * backfill, CSV import and stream replay, run twice, leave each store with
 * identical row counts and checksums, equal to the embedded store's; `up`
 * serves /api/bars, status, quarantine and the dashboard from it; a store
 * without a capability answers with its name.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStoreAt } from '../../src/store/open-store.ts';
import { freshKeyspace } from '../helpers/cassandra.ts';
import { runCli, startServer } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';
import { freshDatabase } from '../helpers/pg.ts';
import { fixture, type ReplayServer, startReplayServer } from '../helpers/replay-server.ts';
import { storeChecksum, storeSnapshot } from '../helpers/store-snapshot.ts';

const YAHOO: Record<string, string> = {
  AAPL: fixture('yahoo/yahoo-chart-AAPL-1d-2020-08-31_2020-11-06-splits-dividends.json'),
  MSFT: fixture('yahoo/yahoo-chart-MSFT-1d-2021-02-01_2022-01-28-dividends.json'),
  NVDA: fixture('yahoo/yahoo-chart-NVDA-1d-2021-02-01_2022-01-28-split.json'),
};

let yahoo: ReplayServer;
let dir: string;
let session: string;
let csv: string;
const drops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  yahoo = await startReplayServer((url) => {
    const body = YAHOO[decodeURIComponent(url.pathname.split('/').pop()!)];
    return body ? [{ body }] : undefined;
  });
  dir = tempDir();
  // A simulator session recorded once, replayed into every store.
  session = join(dir, 'session.ndjson');
  const rec = await runCli(
    ['record', '--source', 'simulator', '--symbols', 'AAPL,MSFT', '--rate', '5000'].concat([
      '--hours',
      'always',
      '--max-messages',
      '300',
      '--out',
      session,
    ]),
    { TICKLINE_DATA_DIR: join(dir, 'rec'), FINNHUB_TOKEN: '' },
  );
  expect(rec.code, rec.stderr).toBe(0);
  // Weekly bars with one broken row (high below low): it is quarantined.
  csv = join(dir, 'acme.csv');
  writeFileSync(
    csv,
    [
      'Date,Open,High,Low,Close,Volume',
      '2024-01-01,10,11,9,10.5,1000',
      '2024-01-08,10.5,12,10,11.5,1200',
      '2024-01-15,11.5,10,12,11,900',
      '2024-01-22,11,13,10.5,12.5,1500',
      '',
    ].join('\n'),
  );
}, 120_000);

afterAll(async () => {
  await yahoo.close();
  for (const d of drops) await d();
});

/** The backfill, import and replay every store takes; each exits 0. */
async function load(args: string[], env: Record<string, string>): Promise<void> {
  for (const cmd of [
    ['backfill', '--symbols', 'AAPL,MSFT,NVDA', '--from', '2020-08-01', '--to', '2022-01-31'],
    ['import', csv, '--symbol', 'ACME', '--interval', '1wk'],
    ['stream', '--source', 'replay', '--file', session, '--speed', 'max', '--symbols', 'AAPL,MSFT'],
  ]) {
    const r = await runCli([...cmd, ...args], env);
    expect(r.code, `${cmd[0]}: ${r.stdout}\n${r.stderr}`).toBe(0);
  }
}

/** What must be equal across stores: every series, every trade, and which records were quarantined. */
async function comparable(url: string) {
  const store = await openStoreAt(url);
  try {
    const snap = await storeSnapshot(store, ['AAPL', 'MSFT']);
    return {
      ...snap,
      quarantine: (snap.quarantine ?? []).map((q) => ({ ...q, receivedAt: 0 })),
      checksum: await storeChecksum(store, ['AAPL', 'MSFT']),
    };
  } finally {
    await store.close();
  }
}

let reference: Awaited<ReturnType<typeof comparable>>;

describe('the embedded store (reference)', () => {
  it('loads the same data', async () => {
    const data = join(dir, 'duckdb');
    await load([], { TICKLINE_DATA_DIR: data, TICKLINE_YAHOO_URL: yahoo.url, FINNHUB_TOKEN: '' });
    reference = await comparable(join(data, 'tickline.duckdb'));
    expect(reference.checksum.bars).toBeGreaterThan(553);
    expect(reference.checksum.quarantine).toBe(1);
  });
});

describe.each([
  {
    kind: 'postgres',
    make: async () => {
      const db = await freshDatabase('tl_it');
      drops.push(db.drop);
      return db.url;
    },
  },
  {
    kind: 'cassandra',
    make: async () => {
      const ks = freshKeyspace('tl_it');
      drops.push(ks.drop);
      return ks.url;
    },
  },
])('the $kind store, end to end', ({ kind, make }) => {
  let url: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    url = await make();
    env = { TICKLINE_DATA_DIR: join(dir, kind), TICKLINE_YAHOO_URL: yahoo.url, FINNHUB_TOKEN: '' };
  });

  it('takes the same backfill, import and replay twice: identical counts and checksums, equal to the embedded store', async () => {
    await load(['--store', url], env);
    const once = await comparable(url);
    await load(['--store', url], env);
    const twice = await comparable(url);
    expect(twice.checksum).toEqual(once.checksum);
    expect(once.series).toEqual(reference.series);
    expect(once.trades).toEqual(reference.trades);
    expect(once.quarantine).toEqual(reference.quarantine);
  });

  it('serves bars, status, quarantine and the dashboard from tickline up --store', async () => {
    const server = await startServer(['--store', url, '--port', '0', '--symbols', 'AAPL'], env);
    try {
      expect(server.stdout()).toContain(`storing into ${url}`);
      const get = async (path: string) => {
        const res = await fetch(`${server.url}${path}`);
        return { status: res.status, body: await res.text() };
      };
      const bars = await get(
        '/api/bars?symbol=MSFT&interval=1d&indicators=sma_20,rsi_14&limit=300',
      );
      expect(bars.status).toBe(200);
      const rows = JSON.parse(bars.body).bars as {
        close: number;
        indicators: { sma_20: number | null };
      }[];
      const ref = reference.series['MSFT 1d']!;
      expect(rows.map((r) => r.close)).toEqual(ref.columns.close);
      expect(rows.map((r) => r.indicators.sma_20 ?? Number.NaN)).toEqual(ref.columns.sma_20);
      const dashboard = await get('/');
      expect(dashboard.status).toBe(200);
      expect(dashboard.body).toContain('<main id="app"');
      const health = JSON.parse((await get('/api/health')).body);
      expect(health.store).toMatchObject({ ready: true, kind });
      const q = JSON.parse((await get('/api/quarantine?symbol=ACME')).body);
      expect(q.rows.map((r: { rule: string }) => r.rule)).toEqual(['high_low_inconsistent']);
      // The CLI beside the running server goes through it, on the same store.
      const status = await runCli(['status', '--format', 'json'], env);
      expect(status.code, status.stderr).toBe(0);
      const series = JSON.parse(status.stdout) as {
        symbol: string;
        interval: string;
        rows: number;
      }[];
      expect(series.find((s) => s.symbol === 'ACME' && s.interval === '1wk')?.rows).toBe(3);
      const quarantine = await runCli(['quarantine', '--symbol', 'ACME', '--format', 'json'], env);
      expect(quarantine.code, quarantine.stderr).toBe(0);
      expect(quarantine.stdout).toContain('high_low_inconsistent');
      if (kind === 'cassandra') {
        const sql = await runCli(['query', 'SELECT 1'], env);
        expect(sql.code).toBe(2);
        expect(sql.stderr).toBe('tickline: SQL console: not available on the cassandra store\n');
        const exp = await get('/api/export?layer=staging&format=csv&symbol=MSFT');
        expect(exp.status).toBe(501);
        expect(JSON.parse(exp.body)).toEqual({
          error: 'not_available',
          message: 'Lake export: not available on the cassandra store',
        });
      } else {
        const sql = await runCli(
          [
            'query',
            "SELECT count(*) AS n FROM warehouse.bars_enriched WHERE symbol = 'MSFT' AND interval = '1d'",
          ],
          env,
        );
        expect(sql.code, sql.stderr).toBe(0);
        expect(sql.stdout).toMatch(/\b252\b/);
      }
    } finally {
      await server.stop();
    }
  });
});
