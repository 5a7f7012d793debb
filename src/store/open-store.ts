/**
 * The store the config asks for, shaped like cli/open-log.ts: one registry
 * of drivers by kind, each opened from the config (the embedded DuckDB file
 * by default, PostgreSQL or Apache Cassandra by URL), behind the
 * store-neutral layers (ManagedStore). A new store adds one entry here.
 */
import { type CalendarResolver, calendarResolver } from '../calendar/registry.ts';
import type { Config } from '../core/config.ts';
import { databasePath, StoreSettingsSchema } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { ManagedStore } from './managed-store.ts';
import type { StoreDriver, StoreKind } from './store.ts';

type StoreSettings = Config['store'];

/** How each kind's driver is opened (imported on use: a store's client loads only when chosen). */
type Open = (s: StoreSettings, path: string, calendars?: CalendarResolver) => Promise<StoreDriver>;
const DRIVERS: Record<StoreKind, Open> = {
  duckdb: async (s, path) => {
    const { DuckDBStore } = await import('./duckdb/duckdb-store.ts');
    // The key is a secret: from the environment only, never the config file.
    const key = process.env.TICKLINE_STORE_KEY;
    return DuckDBStore.open(path, {
      memoryLimit: s.memoryLimit,
      checkpointThreshold: s.checkpointThreshold,
      extensionDirectory: s.extensionDirectory,
      ...(key ? { encryptionKey: key } : {}),
    });
  },
  postgres: async (s, _path, calendars) => {
    const { PostgresStore } = await import('./postgres/pg-store.ts');
    return PostgresStore.open(needUrl(s, 'postgres'), s.postgres, calendars ? { calendars } : {});
  },
  cassandra: async (s) => {
    const { CassandraStore } = await import('./cassandra/cassandra-store.ts');
    return CassandraStore.open(needUrl(s, 'cassandra'), s.cassandra);
  },
};

function needUrl(s: StoreSettings, kind: StoreKind): string {
  if (!s.url) {
    throw new ConfigError(
      'store.url',
      `the ${kind} store's URL (store.url, --store or TICKLINE_STORE_URL)`,
    );
  }
  return s.url;
}

/** Opens the configured store: its driver behind the store-neutral layers. */
export async function openStore(
  cfg: Pick<Config, 'store' | 'dataDir' | 'calendars' | 'instruments'>,
): Promise<ManagedStore> {
  const driver = await DRIVERS[cfg.store.kind](
    cfg.store,
    databasePath(cfg as Config),
    calendarResolver(cfg),
  );
  return new ManagedStore(driver, { cacheBytes: cfg.store.queryCacheMB * 2 ** 20 });
}

/**
 * A store from a URL or a DuckDB file path (`:memory:` for an in-memory one), with the
 * config's defaults otherwise: what tests and benchmarks open.
 */
export async function openStoreAt(
  where: string,
  settings: Partial<StoreSettings> = {},
): Promise<ManagedStore> {
  const s = StoreSettingsSchema.parse(settings) as StoreSettings;
  const scheme = /^([a-z]+):\/\//.exec(where)?.[1];
  if (scheme === 'postgres' || scheme === 'postgresql') {
    s.kind = 'postgres';
    s.url = where;
  } else if (scheme === 'cassandra') {
    s.kind = 'cassandra';
    s.url = where;
  } else {
    s.kind = 'duckdb';
    s.url = null;
  }
  const path = scheme === 'duckdb' ? decodeURIComponent(new URL(where).pathname) : where;
  const driver = await DRIVERS[s.kind](s, path);
  return new ManagedStore(driver, { cacheBytes: s.queryCacheMB * 2 ** 20 });
}
