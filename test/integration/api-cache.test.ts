/**
 * Bars bodies from the query cache: a page over a result patched after a write
 * (a new bar, a correction) copies the rows it reuses from the stale result's
 * body. Two real servers take the same writes, one over a store that caches
 * nothing: after every step each page must be the same bytes from both.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { createServer } from '../../src/api/server.ts';
import { loadConfig } from '../../src/core/config.ts';
import { seededRandom } from '../../src/core/random.ts';
import type { Bar } from '../../src/core/records.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { tempDir } from '../helpers/db.ts';

async function serve(store: Store): Promise<{ app: FastifyInstance; base: string }> {
  const cfg = loadConfig({ cwd: '/', env: {} });
  const app = await createServer({ store, cfg, metrics: new Metrics(), requireKeyForReads: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  return { app, base: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` };
}

describe('API bars bodies over patched results', () => {
  it('are byte for byte what an uncached server answers, through appends, corrections and refreshes', async () => {
    const cached = await openStoreAt(join(tempDir(), 'on.duckdb'));
    const plain = await openStoreAt(join(tempDir(), 'off.duckdb'), { queryCacheMB: 0 });
    const [a, b] = [await serve(cached), await serve(plain)];
    const rand = seededRandom(5);
    const t0 = Date.UTC(2024, 0, 2, 14, 30);
    const minute = 60_000;
    const bar = (m: number, close: number, source = 'sim'): Bar => ({
      symbol: 'PCH',
      interval: '1m',
      ts: t0 + m * minute,
      open: close - 0.25,
      high: close + 0.5 + rand() / 7,
      low: close - 0.5,
      close,
      volume: 100 + m,
      adjClose: m % 3 ? null : close * 0.99,
      source,
    });
    const both = async (f: (s: Store) => Promise<unknown>) => {
      await f(cached);
      await f(plain);
    };
    const write = (bars: Bar[]) =>
      both((s) => s.write({ raw: [], bars, rejects: [], actions: [], instruments: [] }));
    const key = { symbol: 'PCH', interval: '1m' as const };
    const refresh = async () => {
      await cached.refreshCurated([key]);
      await plain.capability('sql').sql('CHECKPOINT'); // it forgets what it refreshed: refreshes whole
      await plain.refreshCurated([key]);
    };
    const pages = [
      'limit=1000&indicators=sma_20,rsi_14,macd,bb_upper',
      'limit=40&indicators=ema_12',
      'limit=40&order=desc&indicators=sma_20,atr_14',
      'limit=1000&order=desc',
      `from=${new Date(t0 + 30 * minute).toISOString()}&limit=25&indicators=rsi_14`,
    ];
    const same = async (step: string) => {
      for (const page of pages) {
        for (const format of ['json', 'csv']) {
          const path = `/api/bars?symbol=PCH&interval=1m&${page}&format=${format}`;
          const [x, y] = await Promise.all(
            [a, b].map(async (s) => Buffer.from(await (await fetch(s.base + path)).arrayBuffer())),
          );
          expect({ step, path, body: x!.toString() }).toEqual({ step, path, body: y!.toString() });
        }
      }
    };
    try {
      let last = 59;
      await write(Array.from({ length: 60 }, (_, m) => bar(m, 100 + Math.sin(m / 5) * 3)));
      await refresh();
      await same('first load');
      let patched = 0;
      for (let step = 0; step < 30; step++) {
        const stale = cached.queryCacheStats().stale;
        const r = rand();
        if (r < 0.5) {
          // New bars (the live case), refreshed or not yet.
          const n = 1 + Math.floor(rand() * 2);
          await write(Array.from({ length: n }, (_, i) => bar(last + 1 + i, 100 + rand() * 5)));
          last += n;
          if (rand() < 0.7) await refresh();
        } else if (r < 0.7) {
          // A correction inside the series, then its refresh.
          await write([bar(Math.floor(rand() * last), 95 + rand() * 10)]);
          await refresh();
        } else if (r < 0.8) {
          // A new bar from a source the series has not had: its rows are read again.
          await write([bar(last + 1, 101, `feed${step}`)]);
          last++;
        } else await refresh();
        await same(`step ${step}`);
        patched += cached.queryCacheStats().stale - stale;
      }
      // The patched path was taken, many times.
      expect(patched).toBeGreaterThan(30);
    } finally {
      await a.app.close();
      await b.app.close();
      await cached.close();
      await plain.close();
    }
  });
});
