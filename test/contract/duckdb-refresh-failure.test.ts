/**
 * A curated refresh that fails after it has deleted and rewritten indicator
 * rows: the transaction rolls back, nothing of it shows, and the next refresh
 * (which then cannot go on from a kept state) leaves the same rows as a store
 * that never failed. The failure is injected by wrapping the real refresh:
 * it runs all of its SQL, then throws.
 */
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { Bar } from '../../src/core/records.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { ENRICHED_COLUMNS } from '../../src/transform/enrich.ts';
import { tempDir } from '../helpers/db.ts';

const fault = vi.hoisted(() => ({ armed: false }));
vi.mock('../../src/store/duckdb/duckdb-curated.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/store/duckdb/duckdb-curated.ts')>();
  return {
    ...real,
    writeIndicators: async (...args: Parameters<typeof real.writeIndicators>) => {
      const out = await real.writeIndicators(...args);
      if (fault.armed) {
        fault.armed = false;
        throw new Error('injected failure after the refresh wrote its rows');
      }
      return out;
    },
  };
});

describe('DuckDB store: a curated refresh that fails', () => {
  it('rolls back, and the next refresh leaves what a store that never failed has', async () => {
    const failing = await openStoreAt(join(tempDir(), 'failing.duckdb'));
    const plain = await openStoreAt(join(tempDir(), 'plain.duckdb'), { queryCacheMB: 0 });
    const t0 = Date.UTC(2024, 0, 2, 14, 30);
    const bar = (m: number): Bar => {
      const close = 100 + Math.sin(m / 7) * 5;
      return {
        symbol: 'FAIL',
        interval: '1m',
        ts: t0 + m * 60_000,
        open: close - 0.1,
        high: close + 0.4,
        low: close - 0.4,
        close,
        volume: 10 + m,
        adjClose: null,
        source: 'test',
      };
    };
    const key = { symbol: 'FAIL', interval: '1m' as const };
    const write = async (bars: Bar[]) => {
      for (const s of [failing, plain])
        await s.write({ raw: [], bars, rejects: [], actions: [], instruments: [] });
    };
    const enriched = (s: Store) => s.readEnrichedBars(key, ENRICHED_COLUMNS);
    try {
      await write(Array.from({ length: 300 }, (_, m) => bar(m)));
      await failing.refreshCurated([key]);
      await plain.refreshCurated([key]);
      const before = await enriched(failing);
      expect(before).toEqual(await enriched(plain));
      // New bars; the refresh that would go on from the kept state fails after writing.
      await write(Array.from({ length: 40 }, (_, m) => bar(300 + m)));
      fault.armed = true;
      await expect(failing.refreshCurated([key])).rejects.toThrow(/writing bar_indicators failed/);
      // Rolled back: the old rows are there, the new bars have no indicators yet.
      const after = await enriched(failing);
      expect(after.slice(0, 300)).toEqual(before);
      expect(after.slice(300).every((b) => b.indicators.sma_20 === null)).toBe(true);
      // The next refresh reads the series whole, and agrees with the store that never failed.
      await failing.refreshCurated([key]);
      await plain.capability('sql').sql('CHECKPOINT');
      await plain.refreshCurated([key]);
      expect(await enriched(failing)).toEqual(await enriched(plain));
      expect((await enriched(failing))[339]!.indicators.sma_200).not.toBeNull();
    } finally {
      await failing.close();
      await plain.close();
    }
  });
});
