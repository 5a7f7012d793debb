/**
 * A stop always ends the live path within live.drainTimeoutMs, whatever is
 * stuck: here a store whose every write fails (a full disk), which keeps
 * the drain waiting for ever on the code before this test.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TransientError } from '../../src/core/errors.ts';
import { MemoryLog } from '../../src/log/memory/memory-log.ts';
import { StreamPipeline } from '../../src/pipelines/stream.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { tempDir } from '../helpers/db.ts';
import { LIVE_DEFAULTS, messageSource } from '../helpers/live.ts';

describe('drain timeout', () => {
  it('ends a run whose store never accepts a write, saying how much was left', async () => {
    const file = join(tempDir(), 'stuck.duckdb');
    const real = await openStoreAt(file);
    let writes = 0;
    const stuck = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'write') {
          return async () => {
            writes++;
            throw new TransientError('IO Error: No space left on device');
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Store;
    const t0 = Date.UTC(2024, 0, 2, 15);
    const messages = Array.from({ length: 200 }, (_, i) =>
      JSON.stringify({ type: 'trade', data: [{ s: 'AAPL', p: 100, t: t0 + i * 100, v: 1 }] }),
    );
    const log = new MemoryLog({ partitions: 2, onError: () => {} });
    const p = new StreamPipeline({
      source: messageSource(messages),
      symbols: ['AAPL'],
      store: stuck,
      log,
      live: { ...LIVE_DEFAULTS, drainTimeoutMs: 300 },
      futureSkewMs: 60_000,
    });
    const errors: string[] = [];
    const origError = console.error;
    console.error = (m: unknown) => void errors.push(String(m));
    try {
      await expect(p.run()).rejects.toThrow(
        /stopped before everything was stored: .*drainTimeoutMs \(300 ms\)/,
      );
    } finally {
      console.error = origError;
      await log.close();
    }
    expect(writes).toBeGreaterThan(0);
    // Nothing was stored (every write failed), and the real store is intact.
    const n = await real.capability('sql').sql('SELECT count(*)::INT AS n FROM trades');
    expect(n.rows[0]).toEqual({ n: 0 });
    await real.close();
  });
});
