/** What every command needs: the config and an open store. */
import { type Config, databasePath, loadConfig } from '../core/config.ts';
import { DuckDBStore } from '../store/duckdb/duckdb-store.ts';
import type { Store } from '../store/store.ts';

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
}

export function commandConfig(opts: GlobalOptions): Config {
  const env = { ...process.env };
  if (opts.dataDir) env.TICKLINE_DATA_DIR = opts.dataDir;
  return loadConfig({ ...(opts.config ? { file: opts.config } : {}), env });
}

/** Opens the store, runs `fn`, and always closes it. */
export async function withStore<T>(cfg: Config, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await DuckDBStore.open(databasePath(cfg), {
    memoryLimit: cfg.store.memoryLimit,
    checkpointThreshold: cfg.store.checkpointThreshold,
    queryCacheBytes: cfg.store.queryCacheMB * 2 ** 20,
  });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
