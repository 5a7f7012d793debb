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
const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;

const out: string[] = [];
const say = (s = ''): void => {
  out.push(s);
  console.log(s);
};
const machine = `${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`;
say(`machine: ${machine}, node ${process.version}${quick ? ' (BENCH_QUICK)' : ''}`);
say();

const N = quick ? 1_000_000 : 10_000_000;
const NLIB = quick ? 200_000 : 1_000_000;
say(`### Indicators: ${fmt(N)} closes (tickline), ${fmt(NLIB)} (libraries), values/s`);
say();
say(
  row([
    'indicator',
    'tickline, new output',
    'tickline, reused output',
    'technicalindicators',
    'trading-signals',
    '× technicalindicators',
    '× trading-signals',
  ]),
);
say('|---|---:|---:|---:|---:|---:|---:|');
for (const r of benchIndicators(N, NLIB)) {
  const best = Math.max(r.tickline, r.ticklineReused);
  say(
    row([
      r.indicator,
      fmt(r.tickline),
      fmt(r.ticklineReused),
      fmt(r.technicalindicators),
      fmt(r.tradingSignals),
      `${(best / r.technicalindicators).toFixed(0)}×`,
      `${(best / r.tradingSignals).toFixed(0)}×`,
    ]),
  );
}
say();

const ROWS = quick ? 200_000 : 2_000_000;
const bulk = await benchBulkLoad(dir, ROWS);
say(`### Bulk load into DuckDB: ${fmt(bulk.rows)} bars in one Store.write`);
say();
say(row(['what', 'rows/s']));
say('|---|---:|');
say(
  row([
    'first load (nothing stored yet: columnar append straight into bars)',
    fmt(bulk.rowsPerSec),
  ]),
);
say(
  row([
    'replay of the same rows (merge on the natural key; nothing changes)',
    fmt(bulk.upsertRowsPerSec),
  ]),
);
say();

const SYMBOLS = quick ? 50 : 500;
const bf = await benchBackfill(dir, SYMBOLS, 8);
say(`### Backfill: ${bf.symbols} symbols × 10 years daily from a local replay server`);
say();
say(
  row([
    'symbols',
    'bars stored',
    'seconds',
    'bars/s',
    'response size',
    'in Store.write',
    'in refreshCurated',
  ]),
);
say('|---:|---:|---:|---:|---:|---:|---:|');
say(
  row([
    bf.symbols,
    fmt(bf.bars),
    bf.seconds.toFixed(1),
    fmt(bf.bars / bf.seconds),
    `${(bf.bytes / 1024).toFixed(0)} KiB`,
    `${(bf.storeSeconds.write ?? 0).toFixed(1)} s`,
    `${(bf.storeSeconds.refreshCurated ?? 0).toFixed(1)} s`,
  ]),
);
