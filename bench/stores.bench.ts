/**
 * The stores side by side, each against what a user would pick instead, in one run:
 * - bulk bars into PostgreSQL (the store's write: COPY into a temp table, then INSERT … ON
 *   CONFLICT) against `psql -c "\copy staging.bars … from 'bars.csv' csv"` of the same rows into
 *   the same (emptied) table, rounds alternating;
 * - bulk bars into Cassandra (the store's write) against a plain cassandra-driver loop of
 *   prepared INSERTs of the same rows into the same (emptied) table at the same concurrency;
 * - the live path (replay at full speed) into each store;
 * - one year of 1-minute bars of one symbol read through /api/bars from each store;
 * - the same backfill (symbols × 10 years of daily bars) into each store.
 * Part of `npm run bench`; alone: `node --expose-gc --import tsx bench/stores.bench.ts [--quick]`
 * (needs the machine's PostgreSQL and a Cassandra node: scripts/services/cassandra/start.sh).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import cassandra from 'cassandra-driver';
import pg from 'pg';
import { createServer } from '../src/api/server.ts';
import { loadConfig } from '../src/core/config.ts';
import { Metrics } from '../src/observability/metrics.ts';
import { bucketOf } from '../src/store/cassandra/cassandra-schema.ts';
import { openStoreAt } from '../src/store/open-store.ts';
import { minuteBars } from './api.bench.ts';
import { benchBackfill } from './backfill.bench.ts';
import { benchLive, liveMessages } from './live.bench.ts';
import { bulkBars } from './store.bench.ts';

const run = promisify(execFile);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const PG_ADMIN = process.env.TICKLINE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const CASSANDRA = process.env.TICKLINE_CASSANDRA ?? '127.0.0.1:19042';

/** A database of its own for the bench (made anew). */
async function pgDatabase(name: string): Promise<string> {
  const c = new pg.Client({ connectionString: PG_ADMIN });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(PG_ADMIN);
  u.pathname = `/${name}`;
  return u.toString();
}

async function dropKeyspace(keyspace: string): Promise<void> {
  const c = new cassandra.Client({ contactPoints: [CASSANDRA], localDataCenter: 'datacenter1' });
  await c.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  await c.shutdown();
}

const empty = { raw: [], rejects: [], actions: [], instruments: [] };

export async function benchPgBulk(rows: number, rounds: number) {
  const url = await pgDatabase('tickline_bench_bulk');
  const store = await openStoreAt(url);
  const bars = bulkBars(rows);
  const csv = join('/tmp', `tickline-bench-bars-${rows}.csv`);
  writeFileSync(
    csv,
    bars
      .map(
        (b) =>
          `${b.symbol},${b.interval},${new Date(b.ts).toISOString()},${b.open},${b.high},${b.low},${b.close},${b.volume},,${b.source},,,f\n`,
      )
      .join(''),
  );
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const ours: number[] = [];
  const theirs: number[] = [];
  let replay = 0;
  try {
    // One round first to create the month partitions (both then load into the same tables).
    await store.write({ ...empty, bars });
    for (let r = 0; r < rounds; r++) {
      await admin.query('TRUNCATE staging.bars');
      await admin.query('VACUUM ANALYZE staging.bars');
      let t = performance.now();
      const res = await store.write({ ...empty, bars });
      ours.push(rows / ((performance.now() - t) / 1000));
      if (res.barsChanged !== rows) throw new Error(`stored ${res.barsChanged} of ${rows}`);
      await admin.query('TRUNCATE staging.bars');
      await admin.query('VACUUM ANALYZE staging.bars');
      t = performance.now();
      await run('psql', [
        url,
        '-q',
        '-c',
        `\\copy staging.bars (symbol, interval, ts, open, high, low, close, volume, adj_close, source, vwap, trade_count, backfilled) from '${csv}' csv`,
      ]);
      theirs.push(rows / ((performance.now() - t) / 1000));
    }
    // A replay of what is stored (psql's copy is there): every key conflicts, nothing changes.
    const t = performance.now();
    if ((await store.write({ ...empty, bars })).barsChanged !== 0)
      throw new Error('replay changed rows');
    replay = rows / ((performance.now() - t) / 1000);
  } finally {
    await admin.end();
    await store.close();
    rmSync(csv, { force: true });
  }
  const ratios = ours.map((o, i) => o / theirs[i]!);
  return {
    rows,
    tickline: median(ours),
    psql: median(theirs),
    ratio: median(ratios),
    ratios,
    replay,
  };
}

export async function benchCassandraBulk(rows: number, rounds: number, concurrency: number) {
  const keyspace = 'tickline_bench_bulk';
  await dropKeyspace(keyspace);
  const store = await openStoreAt(`cassandra://${CASSANDRA}/${keyspace}`, {
    cassandra: {
      concurrency,
      localDataCenter: 'datacenter1',
      replication: { class: 'SimpleStrategy', replication_factor: 1 },
    },
  });
  const client = new cassandra.Client({
    contactPoints: [CASSANDRA],
    localDataCenter: 'datacenter1',
    keyspace,
  });
  const bars = bulkBars(rows);
  const insert = `INSERT INTO bars (symbol, interval, bucket, ts, open, high, low, close, volume,
    adj_close, source, vwap, trade_count, backfilled) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
  const params = bars.map((b) => [
    b.symbol,
    b.interval,
    bucketOf(b.interval, b.ts),
    new Date(b.ts),
    b.open,
    b.high,
    b.low,
    b.close,
    b.volume,
    cassandra.types.unset,
    b.source,
    cassandra.types.unset,
    cassandra.types.unset,
    false,
  ]);
  const ours: number[] = [];
  const theirs: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      await client.execute('TRUNCATE bars');
      let t = performance.now();
      const res = await store.write({ ...empty, bars });
      ours.push(rows / ((performance.now() - t) / 1000));
      if (res.barsChanged !== rows) throw new Error(`stored ${res.barsChanged} of ${rows}`);
      await client.execute('TRUNCATE bars');
      t = performance.now();
      await cassandra.concurrent.executeConcurrent(client, insert, params, {
        concurrencyLevel: concurrency,
        executionProfile: undefined,
      });
      theirs.push(rows / ((performance.now() - t) / 1000));
    }
  } finally {
    await client.shutdown();
    await store.close();
    await dropKeyspace(keyspace);
  }
  const ratios = ours.map((o, i) => o / theirs[i]!);
  return {
    rows,
    tickline: median(ours),
    driverLoop: median(theirs),
    ratio: median(ratios),
    ratios,
  };
}

/** One year of 1-minute bars of one symbol (98,280 with indicators) through /api/bars, ms. */
export async function benchApiYear(where: string, runs = 5) {
  const store = await openStoreAt(where);
  const bars = minuteBars();
  await store.write({ ...empty, bars });
  await store.refreshCurated([{ symbol: 'BENCH', interval: '1m' }]);
  const app = await createServer({
    store,
    cfg: loadConfig({ cwd: '/', env: {} }),
    metrics: new Metrics(),
    requireKeyForReads: false,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const url = `${base}/api/bars?symbol=BENCH&interval=1m&limit=100000&indicators=sma_20,rsi_14,macd`;
  const times: number[] = [];
  let rows = 0;
  try {
    for (let i = 0; i < runs; i++) {
      // A bar written first: a read that cannot come whole from a cache.
      await store.write({ ...empty, bars: [{ ...bars[0]!, volume: bars[0]!.volume + i + 1 }] });
      const t = performance.now();
      const res = await fetch(url);
      rows = (JSON.parse(await res.text()) as { bars: unknown[] }).bars.length;
      times.push(performance.now() - t);
    }
  } finally {
    await app.close();
    await store.close();
  }
  return { rows, ms: median(times) };
}

async function main(quickRun?: boolean) {
  const quick = quickRun ?? (process.argv.includes('--quick') || process.env.BENCH_QUICK === '1');
  const dir = join(import.meta.dirname, '.data');
  mkdirSync(dir, { recursive: true });
  const pgRows = quick ? 200_000 : 1_000_000;
  const cRows = quick ? 50_000 : 200_000;
  const rounds = quick ? 2 : 3;
  const lines: string[] = [];
  const say = (s: string) => {
    lines.push(s);
    console.log(s);
  };
  const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(0)}k`);
  say(`### Stores: bulk bars, rows/s (medians of ${rounds} alternating rounds)`);
  say('');
  say('| store | rows | tickline | the alternative | tickline / alternative (per round) |');
  say('|---|---:|---:|---:|---|');
  const p = await benchPgBulk(pgRows, rounds);
  say(
    `| PostgreSQL (COPY + ON CONFLICT) | ${fmt(p.rows)} | ${fmt(p.tickline)} | psql \\copy ${fmt(p.psql)} | ${p.ratios.map((r) => r.toFixed(2)).join(', ')} |`,
  );
  say(
    `| PostgreSQL, the same rows replayed (merged on the key, 0 changed) | ${fmt(p.rows)} | ${fmt(p.replay)} | | |`,
  );
  const c = await benchCassandraBulk(cRows, rounds, 64);
  say(
    `| Cassandra (concurrency 64) | ${fmt(c.rows)} | ${fmt(c.tickline)} | driver loop ${fmt(c.driverLoop)} | ${c.ratios.map((r) => r.toFixed(2)).join(', ')} |`,
  );
  say('');
  const stores = async (name: string) => {
    if (name === 'duckdb') {
      const f = join(dir, `stores-${Date.now()}.duckdb`);
      return { where: f, done: async () => rmSync(f, { force: true }) };
    }
    if (name === 'postgres')
      return { where: await pgDatabase('tickline_bench_s'), done: async () => {} };
    const ks = `tickline_bench_s${Date.now() % 100000}`;
    return { where: `cassandra://${CASSANDRA}/${ks}`, done: () => dropKeyspace(ks) };
  };
  const trades = quick ? 100_000 : 300_000;
  const symbols = quick ? 50 : 500;
  say(`### Stores: the live path, the API and a backfill on each`);
  say('');
  say(
    `| store | live path, ${fmt(trades)} trades replayed, trades/s | /api/bars, 1 year of 1m bars (98,280), ms | backfill ${symbols} × 10 y daily, s |`,
  );
  say('|---|---:|---:|---:|');
  const messages = liveMessages(trades, 10);
  for (const name of ['duckdb', 'postgres', 'cassandra']) {
    const a = await stores(name);
    const live = await benchLive(dir, messages, { where: a.where });
    await a.done();
    const b = await stores(name);
    const api = await benchApiYear(b.where);
    await b.done();
    const d = await stores(name);
    const bf = await benchBackfill(dir, symbols, 8, d.where);
    await d.done();
    say(
      `| ${name} | ${fmt(live.tradesPerSec)} | ${api.ms.toFixed(0)} | ${bf.seconds.toFixed(1)} |`,
    );
  }
  return lines;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}

export { main as benchStores };
