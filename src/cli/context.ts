/** What every command needs: the config and an open store. */

import { ControlClient } from '../control/control-client.ts';
import { remoteStore } from '../control/store-service.ts';
import { type Config, loadConfig, setStoreUrl, storeLocation } from '../core/config.ts';
import { UsageError } from '../core/errors.ts';
import { openStore } from '../store/open-store.ts';
import type { Store } from '../store/store.ts';

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
  store?: string;
}

export function commandConfig(opts: GlobalOptions): Config {
  const env = { ...process.env };
  if (opts.dataDir) env.TICKLINE_DATA_DIR = opts.dataDir;
  const cfg = loadConfig({ ...(opts.config ? { file: opts.config } : {}), env });
  if (opts.store) setStoreUrl(cfg, opts.store, '--store');
  return cfg;
}

/** The tickline server holding this data folder, or null when none runs. */
export async function connectServer(cfg: Config): Promise<ControlClient | null> {
  return ControlClient.connect(cfg.dataDir);
}

export async function openLocalStore(cfg: Config): Promise<Store> {
  return openStore(cfg);
}

/**
 * Opens the store, runs `fn`, and always closes it. When a tickline server
 * holds the data folder, the store is the server's, reached over its local
 * control socket; with `own`, that is refused instead (a second server).
 */
export async function withStore<T>(
  cfg: Config,
  fn: (store: Store) => Promise<T>,
  opts: { own?: boolean } = {},
): Promise<T> {
  const client = await connectServer(cfg);
  if (client && opts.own) {
    client.close();
    const who = client.info
      ? ` (pid ${client.info.pid}${client.info.url ? `, ${client.info.url}` : ''})`
      : '';
    throw new UsageError(
      '--data-dir',
      `a tickline server${who} already holds ${cfg.dataDir}; stop it, or give this one another --data-dir`,
    );
  }
  let store: Store | null = null;
  if (client) {
    const remote = await remoteStore(client);
    // The server's store, unless this command names another (--store, TICKLINE_STORE_URL or
    // store.url): that one is opened here.
    const named = cfg.store.url !== null;
    if (!named || remote.location === null || remote.location === storeLocation(cfg)) {
      store = remote.store;
    } else await remote.store.close();
  }
  store ??= await openLocalStore(cfg);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
