import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Bar } from '../../src/core/records.ts';
import { DuckDBStore } from '../../src/store/duckdb/duckdb-store.ts';
import { tempDir } from '../helpers/db.ts';
import { storeContract } from './store-contract.ts';

storeContract('duckdb (file)', () => DuckDBStore.open(join(tempDir(), 'contract.duckdb')));

describe('DuckDB store: the parallel bulk insert', () => {
  it('stores nothing of a bulk write that fails half way, and goes on as before', async () => {
    const store = await DuckDBStore.open(join(tempDir(), 'bulk-fail.duckdb'));
    try {
      const bars: Bar[] = Array.from({ length: 120_000 }, (_, i) => ({
        // Past the checks a record passes before it is written: a row the insert cannot take.
        symbol: i < 110_000 ? 'AAA' : (undefined as unknown as string),
        interval: '1m',
        ts: Date.UTC(2024, 0, 2) + i * 60_000,
        open: 1,
        high: 2,
        low: 0.5,
        close: 1.5,
        volume: 1,
        adjClose: null,
        source: 'test',
      }));
      const empty = { raw: [], rejects: [], actions: [], instruments: [] };
      await expect(store.write({ ...empty, bars })).rejects.toThrow(/DuckDB write failed/);
      const after = await store.sql(
        "SELECT count(*) AS n, current_setting('preserve_insertion_order') AS ordered FROM bars",
      );
      expect(after.rows[0]).toEqual({ n: 0, ordered: true });
      expect((await store.write({ ...empty, bars: bars.slice(0, 110_000) })).barsChanged).toBe(
        110_000,
      );
      expect(await store.readBars({ symbol: 'AAA', interval: '1m', limit: 2 })).toEqual(
        bars.slice(0, 2),
      );
    } finally {
      await store.close();
    }
  });
});
