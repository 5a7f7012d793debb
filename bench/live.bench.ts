/**
 * The live path end to end in one process: Finnhub-format JSON text
 * messages in → parse → validate → 1s and 1m bars → trades and bars stored
 * in a DuckDB file, over the in-process log. Messages are generated before
 * the clock starts (the seeded simulator), so the figure is the pipeline's.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { loadConfig } from '../src/core/config.ts';
import { applyHeapGrowth } from '../src/core/heap.ts';
import { MemoryLog } from '../src/log/memory/memory-log.ts';
import { StreamPipeline } from '../src/pipelines/stream.ts';
import { parseFinnhubMessage } from '../src/sources/finnhub/finnhub-messages.ts';
import { simulate } from '../src/sources/simulator/simulator.ts';
import { emptyLiveBatch } from '../src/sources/source.ts';
import { openStoreAt } from '../src/store/open-store.ts';
import { arraySource } from './array-source.ts';

export const LIVE_SYMBOLS = [
  'AAPL',
  'MSFT',
  'NVDA',
  'TSLA',
  'SPY',
  'AMZN',
  'GOOG',
  'META',
  'AMD',
  'NFLX',
];

export function liveMessages(
  trades: number,
  perMessage: number,
  symbols: readonly string[] = LIVE_SYMBOLS,
): string[] {
  const gen = simulate({
    symbols: [...symbols],
    seed: 1,
    tradesPerSecond: 20_000,
    burstiness: 0.3,
    tradesPerMessage: perMessage,
    startTs: Date.now() - 7 * 86_400_000,
  });
  return Array.from({ length: Math.ceil(trades / perMessage) }, () => gen.next().value!.text);
}

export interface LiveResult {
  trades: number;
  seconds: number;
  tradesPerSec: number;
  p50: number;
  p99: number;
  stored: number;
  flushes: number;
  writeSeconds: number;
}

export async function benchLive(
  dir: string,
  messages: readonly string[],
  opts: { rate?: number; where?: string; symbols?: readonly string[] } = {},
): Promise<LiveResult> {
  const file = opts.where ?? join(dir, 'live.duckdb');
  if (!opts.where) {
    rmSync(file, { force: true });
    rmSync(`${file}.wal`, { force: true });
  }
  const store = await openStoreAt(file);
  const cfg = loadConfig({ cwd: '/', env: {} });
  // As `tickline stream` runs the live path.
  applyHeapGrowth(cfg.live.heapGrowthPercent);
  const log = new MemoryLog({ capacity: cfg.live.queueRecords });
  const pipeline = new StreamPipeline({
    source: arraySource(messages, opts.rate),
    symbols: opts.symbols ?? LIVE_SYMBOLS,
    store,
    log,
    live: { ...cfg.live, intervals: ['1s', '1m'] },
    futureSkewMs: 60_000,
  });
  const t0 = performance.now();
  const stats = await pipeline.run();
  const seconds = (performance.now() - t0) / 1000;
  const lat = pipeline.latency();
  await log.close();
  await store.close();
  return {
    trades: stats.tradesIn,
    seconds,
    tradesPerSec: stats.tradesIn / seconds,
    p50: lat.p50,
    p99: lat.p99,
    stored: stats.store.tradesStored,
    flushes: stats.store.flushes,
    writeSeconds: stats.store.writeMs / 1000,
  };
}

/**
 * The store's floor: DuckDB alone storing `trades` trades (made in SQL into a temp table per
 * write, so no JavaScript value crosses) into the store's empty `trades`, in writes of `perWrite`
 * trades, one transaction each (as the live path's flushes), then a checkpoint (the compression
 * into the file that the live path's commits set off along the way). Trades/s over the inserts,
 * commits and checkpoint, and the process's CPU time per trade over the same (all threads).
 */
export async function duckdbTradesAlone(
  dir: string,
  trades: number,
  perWrite: number,
): Promise<{ tradesPerSec: number; cpuMicrosPerTrade: number }> {
  const file = join(dir, 'trades-alone.duckdb');
  rmSync(file, { force: true });
  rmSync(`${file}.wal`, { force: true });
  await (await openStoreAt(file)).close(); // the store's schema and settings
  const db = await DuckDBInstance.create(file, { checkpoint_threshold: '64MB' });
  const conn = await db.connect();
  let seconds = 0;
  let cpu = 0;
  try {
    for (let from = 0; from < trades; from += perWrite) {
      const to = Math.min(trades, from + perWrite);
      await conn.run(`CREATE OR REPLACE TEMP TABLE st AS SELECT
        ['AAPL','MSFT','NVDA','TSLA','SPY','AMZN','GOOG','META','AMD','NFLX'][i % 10 + 1] AS symbol,
        epoch_ms(1700000000000 + i) AS ts, 100 + (i % 1000) / 100 AS price,
        (i % 500)::DOUBLE AS size, '1,12' AS conditions,
        printf('%08x%08x', (i * 2654435761) % 4294967296, (i * 40503) % 4294967296) AS trade_id,
        'finnhub' AS source, now()::TIMESTAMP AS ingested_at
        FROM range(${from}, ${to}) t(i)`);
      const c = process.cpuUsage();
      const t = performance.now();
      await conn.run('BEGIN');
      await conn.run('INSERT INTO trades SELECT * FROM st');
      await conn.run('COMMIT');
      seconds += (performance.now() - t) / 1000;
      const d = process.cpuUsage(c);
      cpu += d.user + d.system;
    }
    const c = process.cpuUsage();
    const t = performance.now();
    await conn.run('CHECKPOINT');
    seconds += (performance.now() - t) / 1000;
    const d = process.cpuUsage(c);
    cpu += d.user + d.system;
    return { tradesPerSec: trades / seconds, cpuMicrosPerTrade: cpu / trades };
  } finally {
    conn.closeSync();
    db.closeSync();
    rmSync(file, { force: true });
    rmSync(`${file}.wal`, { force: true });
  }
}

/** JSON.parse alone over the same messages: the bound the pipeline cannot beat. */
export function parseBound(messages: readonly string[]): number {
  let n = 0;
  const t0 = performance.now();
  for (const m of messages) n += JSON.parse(m).data.length;
  return n / ((performance.now() - t0) / 1000);
}

/** tickline's parser over the same messages (its scanner; JSON.parse for what it does not take). */
export function parseOwn(messages: readonly string[]): number {
  let n = 0;
  const t0 = performance.now();
  for (let i = 0; i < messages.length; i += 1024) {
    const batch = emptyLiveBatch();
    const end = Math.min(messages.length, i + 1024);
    for (let k = i; k < end; k++) parseFinnhubMessage(messages[k]!, 0, 'finnhub', batch);
    n += batch.trades.length;
  }
  return n / ((performance.now() - t0) / 1000);
}
