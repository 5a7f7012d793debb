/**
 * SIGKILL at seeded random points of a replay, an import and a backfill
 * (22 points in all), each followed by the same command run to the end on
 * the same data dir. Afterwards every table holds exactly what one clean
 * run stores (0 lost, 0 duplicated, compared by content without the times
 * of ingest), and the 1m bars rebuilt from the stored trades equal the
 * stored 1m bars. Then the same input a second time changes nothing: the
 * checksums over every value of every table are identical.
 *
 * The kill points are delays from the child's start drawn from a seeded
 * generator (TICKLINE_FAULT_SEED, printed), scaled to how long a clean run
 * of that command takes here, so a failure can be replayed with its seed.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/core/random.ts';
import { simulate } from '../../src/sources/simulator/simulator.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { checksums, tempDir, withDb } from '../helpers/db.ts';
import { fixture, type ReplayServer, startReplayServer } from '../helpers/replay-server.ts';

const SEED = Number(process.env.TICKLINE_FAULT_SEED ?? 20261206);
const rand = seededRandom(SEED);
let dir: string;
let yahoo: ReplayServer;

beforeAll(async () => {
  dir = tempDir();
  console.log(`kill -9 fault suite: TICKLINE_FAULT_SEED=${SEED}`);
  const body = fixture('yahoo/yahoo-chart-TSLA-1d-2010-06-29_2023-08-11-full-history.json');
  yahoo = await startReplayServer(() => [{ body }]);
});
afterAll(async () => {
  await yahoo.close();
});

/** What the tables hold, by content: every natural key and value, not the times of ingest. */
async function content(db: string): Promise<Record<string, string>> {
  const queries: Record<string, string> = {
    trades: `SELECT count(*) AS n, count(DISTINCT (symbol, ts, trade_id)) AS k,
      coalesce(sum(hash(symbol, ts, trade_id, price, size, conditions, source)), 0)::VARCHAR AS h FROM trades`,
    bars: `SELECT count(*) AS n, count(DISTINCT (symbol, interval, ts)) AS k,
      coalesce(sum(hash(symbol, interval, ts, open, high, low, close, volume, adj_close, vwap, trade_count, source)), 0)::VARCHAR AS h FROM bars`,
    quarantine: `SELECT count(*) AS n, count(DISTINCT id) AS k,
      coalesce(sum(hash(stage, source, symbol, rule, message, payload)), 0)::VARCHAR AS h FROM quarantine`,
    enriched: `SELECT count(*) AS n, count(DISTINCT (symbol, interval, ts)) AS k,
      coalesce(sum(hash(symbol, interval, ts, sma_20, ema_12, rsi_14, macd, bb_upper, atr_14)), 0)::VARCHAR AS h FROM bars_enriched`,
    actions: `SELECT count(*) AS n, count(DISTINCT (symbol, ts, kind)) AS k,
      coalesce(sum(hash(symbol, ts, kind, value)), 0)::VARCHAR AS h FROM corporate_actions`,
  };
  return withDb(db, async (q) => {
    const out: Record<string, string> = {};
    for (const [t, sql] of Object.entries(queries)) {
      const [r] = await q(sql);
      out[t] = `${r!.n} rows, ${r!.k} keys, ${r!.h}`;
    }
    return out;
  });
}

/** 1m bars rebuilt from the stored trades that differ from the stored 1m bars (and the count). */
async function barsVsTrades(db: string): Promise<{ differing: number; bars: number }> {
  return withDb(db, async (q) => {
    const [r] = await q(`
      WITH rebuilt AS (
        SELECT symbol, time_bucket(INTERVAL 1 MINUTE, ts) AS ts,
          first(price ORDER BY ts, trade_id) AS open, max(price) AS high, min(price) AS low,
          last(price ORDER BY ts, trade_id) AS close, sum(size) AS volume, count(*) AS n
        FROM trades GROUP BY ALL),
      stored AS (SELECT * FROM bars WHERE interval = '1m')
      SELECT
        (SELECT count(*) FROM rebuilt r FULL JOIN stored s USING (symbol, ts)
          WHERE r.open IS DISTINCT FROM s.open OR r.high IS DISTINCT FROM s.high
             OR r.low IS DISTINCT FROM s.low OR r.close IS DISTINCT FROM s.close
             OR r.volume IS DISTINCT FROM s.volume OR r.n IS DISTINCT FROM s.trade_count) AS differing,
        (SELECT count(*) FROM stored) AS bars`);
    return { differing: Number(r!.differing), bars: Number(r!.bars) };
  });
}

/**
 * Runs `args` to the end once in a clean dir (the reference, and its time),
 * then `points` times: kill -9 at a seeded delay, then the same command to
 * the end, all on one dir. Returns both dirs' databases.
 */
async function killAndFinish(
  name: string,
  args: string[],
  points: number,
  env: Record<string, string> = {},
): Promise<{ reference: string; killed: string; kills: string[] }> {
  const refDir = join(dir, `${name}-reference`);
  const t0 = Date.now();
  const ref = await runCli(args, { ...env, TICKLINE_DATA_DIR: refDir });
  expect(ref.code, ref.stderr).toBe(0);
  const cleanMs = Date.now() - t0;
  const killedDir = join(dir, `${name}-killed`);
  const kills: string[] = [];
  for (let k = 0; k < points; k++) {
    const delay = Math.round(200 + rand() * cleanMs);
    const run = startCli(args, { ...env, TICKLINE_DATA_DIR: killedDir });
    const timer = setTimeout(() => run.child.kill('SIGKILL'), delay);
    const r = await run.done;
    clearTimeout(timer);
    kills.push(
      r.code === -1 || r.code === 137 ? `killed at ${delay} ms` : `ended first (${delay} ms)`,
    );
    // A run that ended by itself before its kill point must have ended well.
    if (r.code !== -1 && r.code !== 137) expect(r.code, r.stderr).toBe(0);
  }
  const last = await runCli(args, { ...env, TICKLINE_DATA_DIR: killedDir });
  expect(last.code, last.stderr).toBe(0);
  return {
    reference: join(refDir, 'tickline.duckdb'),
    killed: join(killedDir, 'tickline.duckdb'),
    kills,
  };
}

/** The same command once more on a finished dir: every table's checksum stays the same. */
async function sameTwice(args: string[], db: string, env: Record<string, string> = {}) {
  const before = await checksums(db);
  const again = await runCli(args, { ...env, TICKLINE_DATA_DIR: join(db, '..') });
  expect(again.code, again.stderr).toBe(0);
  expect(await checksums(db)).toEqual(before);
}

describe('kill -9 at random points, then the same command to the end', () => {
  it('replay: 10 kill points, 0 lost, 0 duplicated, bars equal the bars rebuilt from trades', async () => {
    const gen = simulate({
      symbols: ['AAPL', 'MSFT', 'TSLA', 'NVDA'],
      seed: SEED % 1000,
      tradesPerSecond: 2_000,
      tradesPerMessage: 10,
      faultRate: 0.002,
      duplicateRate: 0.01,
      startTs: Date.UTC(2024, 4, 6, 14),
    });
    const file = join(dir, 'session.ndjson');
    writeFileSync(
      file,
      `${Array.from({ length: 20_000 }, () => gen.next().value!.text).join('\n')}\n`,
    );
    const args = [
      'stream',
      '--source',
      'replay',
      '--file',
      file,
      '--speed',
      'max',
      '--symbols',
      'AAPL,MSFT,TSLA,NVDA',
    ];
    const r = await killAndFinish('replay', args, 10);
    console.log(`replay: ${r.kills.join(', ')}`);
    expect(r.kills.filter((k) => k.startsWith('killed')).length).toBeGreaterThan(0);
    expect(await content(r.killed)).toEqual(await content(r.reference));
    const c = await content(r.killed);
    for (const t of ['trades', 'bars', 'quarantine']) {
      const [n, , k] = c[t]!.split(' ');
      expect(n, t).toBe(k);
    }
    const check = await barsVsTrades(r.killed);
    expect(check.bars).toBeGreaterThan(0);
    expect(check.differing).toBe(0);
    await sameTwice(args, r.killed);
  }, 600_000);

  it('import: 6 kill points of a 300k-row CSV, then identical to one clean import', async () => {
    const file = join(dir, 'big.csv');
    const lines = ['Symbol,Date,Open,High,Low,Close,Volume'];
    const t0 = Date.UTC(1990, 0, 1);
    for (let s = 0; s < 30; s++) {
      for (let i = 0; i < 10_000; i++) {
        const p = 100 + ((i * 7 + s * 13) % 50);
        lines.push(
          `S${s},${new Date(t0 + i * 86_400_000).toISOString().slice(0, 10)},${p},${p + 2},${p - 1},${p + 1},${1000 + i}`,
        );
      }
    }
    lines.push('S1,0x10,1,1,1,1,1', 'S2,2001-01-01,0b11,1,1,1,1');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const args = ['import', file];
    const r = await killAndFinish('import', args, 6);
    console.log(`import: ${r.kills.join(', ')}`);
    expect(await content(r.killed)).toEqual(await content(r.reference));
    await sameTwice(args, r.killed);
  }, 600_000);

  it('backfill: 6 kill points of 60 symbols × 13 years, then identical to one clean backfill', async () => {
    const symbols = Array.from({ length: 60 }, (_, i) => `SYM${i}`).join(',');
    const args = [
      'backfill',
      '--source',
      'yahoo',
      '--symbols',
      symbols,
      '--from',
      '2010-06-29',
      '--to',
      '2023-08-11',
    ];
    const env = { TICKLINE_YAHOO_URL: yahoo.url };
    const r = await killAndFinish('backfill', args, 6, env);
    console.log(`backfill: ${r.kills.join(', ')}`);
    expect(await content(r.killed)).toEqual(await content(r.reference));
    await sameTwice(args, r.killed, env);
  }, 600_000);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
