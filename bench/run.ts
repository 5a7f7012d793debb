/**
 * `npm run bench`: every benchmark, printed as Markdown for BENCHMARKS.md.
 * Sizes can be lowered for a quick look: BENCH_QUICK=1 npm run bench.
 */
import { mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { benchBackfill } from './backfill.bench.ts';
import { benchIndicators } from './indicators.bench.ts';
import { benchBulkLoad } from './store.bench.ts';

const quick = process.env.BENCH_QUICK === '1';
const dir = join(import.meta.dirname, '.data');
mkdirSync(dir, { recursive: true });
const fmt = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : n.toFixed(0);

const out: string[] = [];
const say = (s = ''): void => {
  out.push(s);
  console.log(s);
};
say(
  `machine: ${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}, node ${process.version}${quick ? ' (BENCH_QUICK)' : ''}`,
);
say();

const N = quick ? 1_000_000 : 10_000_000;
const NLIB = quick ? 200_000 : 1_000_000;
say(
  `### Indicators: ${fmt(N)} closes (tickline), ${fmt(NLIB)} closes (libraries), values/s, best of runs`,
);
say();
say(
  '| indicator | tickline | technicalindicators | trading-signals | × technicalindicators | × trading-signals |',
);
say('|---|---:|---:|---:|---:|---:|');
for (const r of benchIndicators(N, NLIB)) {
  say(
    `| ${r.indicator} | ${fmt(r.tickline)} | ${fmt(r.technicalindicators)} | ${fmt(r.tradingSignals)} | ${(r.tickline / r.technicalindicators).toFixed(0)}× | ${(r.tickline / r.tradingSignals).toFixed(0)}× |`,
  );
}
say();

const ROWS = quick ? 200_000 : 2_000_000;
const bulk = await benchBulkLoad(dir, ROWS);
say(`### Bulk load into DuckDB: ${fmt(bulk.rows)} bars in one write`);
say();
say('| what | rows/s |');
say('|---|---:|');
say(`| first load (Appender → temp table → INSERT … ON CONFLICT) | ${fmt(bulk.rowsPerSec)} |`);
say(
  `| replay of the same rows (every key conflicts, nothing changes) | ${fmt(bulk.upsertRowsPerSec)} |`,
);
say();

const SYMBOLS = quick ? 50 : 500;
const bf = await benchBackfill(dir, SYMBOLS, 8);
say(`### Backfill: ${bf.symbols} symbols × 10 years daily from a local replay server`);
say();
say('| symbols | bars stored | seconds | bars/s | response size |');
say('|---:|---:|---:|---:|---:|');
say(
  `| ${bf.symbols} | ${fmt(bf.bars)} | ${bf.seconds.toFixed(1)} | ${fmt(bf.bars / bf.seconds)} | ${(bf.bytes / 1024).toFixed(0)} KiB |`,
);
