/**
 * Peak RSS of the live path replaying `N` trades (argv[2], default 10M) from
 * the simulator at full speed into a DuckDB file, with the product defaults.
 * Run as its own process so the peak is this run's: prints one JSON line.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/core/config.ts';
import { applyHeapGrowth } from '../src/core/heap.ts';
import { MemoryLog } from '../src/log/memory/memory-log.ts';
import { StreamPipeline } from '../src/pipelines/stream.ts';
import { SimulatorSource } from '../src/sources/simulator/simulator-source.ts';
import { openStoreAt } from '../src/store/open-store.ts';
import { LIVE_SYMBOLS } from './live.bench.ts';

const trades = Number(process.argv[2] ?? 10_000_000);
const dir = process.argv[3] ?? join(import.meta.dirname, '.data');
const perMessage = 10;
const file = join(dir, 'live-rss.duckdb');
rmSync(file, { force: true });
rmSync(`${file}.wal`, { force: true });
const cfg = loadConfig({ cwd: '/', env: {} });
const memoryLimit = process.env.TICKLINE_BENCH_DUCKDB_MEMORY ?? null;
const store = await openStoreAt(file, { memoryLimit });
// As `tickline stream` runs the live path (TICKLINE_BENCH_HEAP_GROWTH overrides the default).
applyHeapGrowth(Number(process.env.TICKLINE_BENCH_HEAP_GROWTH ?? cfg.live.heapGrowthPercent));
const log = new MemoryLog({ capacity: cfg.live.queueRecords });
const pipeline = new StreamPipeline({
  source: new SimulatorSource({
    speed: 'max',
    maxMessages: trades / perMessage,
    tradesPerMessage: perMessage,
    tradesPerSecond: 20_000,
    startTs: Date.now() - 14 * 86_400_000,
  }),
  symbols: LIVE_SYMBOLS,
  store,
  log,
  live: cfg.live,
  futureSkewMs: cfg.quality.futureSkewMs,
});
let peak = 0;
const sample = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 100);
const t0 = performance.now();
const stats = await pipeline.run();
const seconds = (performance.now() - t0) / 1000;
clearInterval(sample);
await log.close();
await store.close();
console.log(
  JSON.stringify({
    trades: stats.tradesIn,
    stored: stats.store.tradesStored,
    seconds,
    peakRssMB: Math.max(peak, process.resourceUsage().maxRSS * 1024) / 2 ** 20,
  }),
);
