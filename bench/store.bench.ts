/**
 * Bulk load of bars into the DuckDB store: a first load (straight into `bars`) and its replay
 * (merged on the natural key), rows/s. Part of `npm run bench`; on its own,
 * `node --expose-gc --import tsx bench/store.bench.ts` runs it three times.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Bar } from '../src/core/records.ts';
import { DuckDBStore } from '../src/store/duckdb/duckdb-store.ts';

export async function benchBulkLoad(
  dir: string,
  rows: number,
): Promise<{ rows: number; rowsPerSec: number; upsertRowsPerSec: number }> {
  const file = join(dir, 'bulk.duckdb');
  rmSync(file, { force: true });
  const store = await DuckDBStore.open(file);
  const bars: Bar[] = new Array(rows);
  const symbols = 100;
  const per = Math.ceil(rows / symbols);
  for (let i = 0; i < rows; i++) {
    const p = 100 + (i % 997) / 10;
    bars[i] = {
      symbol: `S${Math.floor(i / per)}`,
      interval: '1m',
      ts: 1_600_000_000_000 + (i % per) * 60_000,
      open: p,
      high: p + 1,
      low: p - 1,
      close: p + 0.5,
      volume: 1000 + i,
      adjClose: null,
      source: 'bench',
    };
  }
  try {
    let t = performance.now();
    await store.write({ raw: [], bars, rejects: [], actions: [], instruments: [] });
    const first = (performance.now() - t) / 1000;
    // Replaying the same rows: every key conflicts, nothing changes.
    t = performance.now();
    const again = await store.write({ raw: [], bars, rejects: [], actions: [], instruments: [] });
    const second = (performance.now() - t) / 1000;
    if (again.barsChanged !== 0) throw new Error('replay changed rows');
    return { rows, rowsPerSec: rows / first, upsertRowsPerSec: rows / second };
  } finally {
    await store.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = mkdtempSync(join(tmpdir(), 'tickline-bulk-'));
  for (let i = 0; i < 3; i++) {
    const r = await benchBulkLoad(dir, 2_000_000);
    console.log(
      `first load ${(r.rowsPerSec / 1e6).toFixed(2)}M rows/s, replay ${(r.upsertRowsPerSec / 1e6).toFixed(2)}M rows/s`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
}
