/**
 * Backfill of many symbols × 10 years of daily bars from a local server that
 * replays a real Yahoo chart response (TSLA, cut to its last 2520 sessions),
 * through validation into a store (DuckDB by default), including the curated refresh.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ingest } from '../src/pipelines/ingest.ts';
import { YahooSource } from '../src/sources/yahoo/yahoo-source.ts';
import { openStoreAt } from '../src/store/open-store.ts';
import { startReplayServer } from '../test/helpers/replay-server.ts';

const TSLA = join(
  import.meta.dirname,
  '..',
  'test',
  'fixtures',
  'yahoo',
  'yahoo-chart-TSLA-1d-2010-06-29_2023-08-11-full-history.json',
);

function tenYears(): string {
  const doc = JSON.parse(readFileSync(TSLA, 'utf8'));
  const r = doc.chart.result[0];
  const keep = 2520;
  r.timestamp = r.timestamp.slice(-keep);
  const q = r.indicators.quote[0];
  for (const k of Object.keys(q)) q[k] = q[k].slice(-keep);
  r.indicators.adjclose[0].adjclose = r.indicators.adjclose[0].adjclose.slice(-keep);
  return JSON.stringify(doc);
}

export async function benchBackfill(
  dir: string,
  symbols: number,
  concurrency: number,
  where?: string,
) {
  const body = tenYears();
  const server = await startReplayServer(() => [{ body }]);
  const file = where ?? join(dir, 'backfill.duckdb');
  if (!where) rmSync(file, { force: true });
  const store = await openStoreAt(file);
  // Seconds from call to answer, queueing behind other store calls included; `driverWrite` is
  // the driver's own write (its transaction), entered once the earlier calls are done.
  const timings: Record<string, number> = {};
  const time = (target: object, m: string, as: string): void => {
    const o = target as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const fn = o[m]!.bind(target);
    o[m] = async (...a: unknown[]) => {
      const t = performance.now();
      try {
        return await fn(...a);
      } finally {
        timings[as] = (timings[as] ?? 0) + (performance.now() - t) / 1000;
      }
    };
  };
  for (const m of ['write', 'refreshCurated', 'lastBarsBefore']) time(store, m, m);
  time(store.driver, 'write', 'driverWrite');
  try {
    const source = new YahooSource({ baseUrl: server.url });
    const from = Date.parse('2013-01-01');
    const to = Date.parse('2023-08-12');
    const t = performance.now();
    const summary = await ingest(
      Array.from({ length: symbols }, (_, i) => ({
        source,
        request: { symbol: `SYM${i}`, interval: '1d' as const, from, to },
      })),
      { store, concurrency },
    );
    const seconds = (performance.now() - t) / 1000;
    if (summary.failed.length > 0) throw new Error(`backfill failed: ${summary.failed[0]!.error}`);
    // The closing checkpoint writes whatever the writes' own checkpoints (at every 64MB of WAL)
    // left: a small backfill pays all of it here, a large one mostly inside its writes.
    const c = performance.now();
    await store.close();
    timings.close = (performance.now() - c) / 1000;
    return { symbols, bars: summary.rows, seconds, bytes: body.length, storeSeconds: timings };
  } finally {
    await store.close();
    await server.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // node --import tsx bench/backfill.bench.ts 50 500: Store.write time against the symbol count.
  const dir = join(import.meta.dirname, '.data');
  for (const n of process.argv.slice(2).map(Number)) {
    const r = await benchBackfill(dir, n, 8);
    const write = r.storeSeconds.write ?? 0;
    const own = r.storeSeconds.driverWrite ?? 0;
    const per = (s: number): string => `${((s * 1e3) / n).toFixed(1)} ms per symbol`;
    console.log(
      `${n} symbols: ${r.bars} bars in ${r.seconds.toFixed(1)} s; Store.write ${write.toFixed(2)} s ` +
        `(${per(write)}, queueing included), its own transaction ${own.toFixed(2)} s (${per(own)}), ` +
        `refreshCurated ${(r.storeSeconds.refreshCurated ?? 0).toFixed(2)} s (${per(r.storeSeconds.refreshCurated ?? 0)}), ` +
        `the closing checkpoint ${(r.storeSeconds.close ?? 0).toFixed(2)} s; its own transactions and the closing checkpoint ${per(own + (r.storeSeconds.close ?? 0))}`,
    );
  }
}
