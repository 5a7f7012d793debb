/**
 * How far V8 lets the heap grow between full garbage collections, for the
 * long-running live path.
 *
 * After each full collection V8 sets the next one's trigger at what survived
 * times a growing factor that it picks from how little time the collector
 * took, up to 4×. The live path keeps little (≈60 MB survives a collection),
 * but everything it buffers for a store write lives long enough to be
 * promoted, so the old generation fills with dead trades and V8, seeing cheap
 * collections, lets it reach ≈4× before collecting: ~270 MB of heap for 60 MB
 * of live data, never given back. A fixed, smaller factor keeps the heap near
 * what is live, at the price of more frequent (incremental, mostly concurrent)
 * collections. Measured in BENCHMARKS.md ("Live path").
 */
import { setFlagsFromString } from 'node:v8';

/**
 * Makes V8 grow the heap by `percent` % past what survived each full
 * collection (V8's `--heap-growing-percent`; read at every collection, so it
 * applies from the next one on). 0 leaves V8's own heuristics. A flag given
 * on node's command line or in NODE_OPTIONS wins.
 */
export function applyHeapGrowth(percent: number): void {
  if (!(Number.isInteger(percent) && percent >= 0)) {
    throw new RangeError(`heap growth must be a whole percentage ≥ 0, got ${percent}`);
  }
  if (percent === 0) return;
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (given.some((a) => /^--heap[-_]growing[-_]percent/.test(a))) return;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
