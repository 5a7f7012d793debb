/**
 * The store over the control channel: `storeService` serves a store's
 * methods; `remoteStore` is a Store whose every call runs in the process
 * that holds the data folder, so a command's output is the same either way.
 */
import type { Store } from '../store/store.ts';
import type { ControlClient } from './control-client.ts';
import type { ControlService } from './control-server.ts';

type StoreMethod = Exclude<keyof Store, 'kind' | 'queryCacheStats' | 'deriveFromBars' | 'close'>;

/** Every method callers may reach (the compiler checks the list is whole). */
const STORE_METHODS: Record<StoreMethod, true> = {
  write: true,
  refreshCurated: true,
  lastBarsBefore: true,
  readBars: true,
  readBarColumns: true,
  readEnrichedBars: true,
  readTrades: true,
  getQuarantine: true,
  deleteQuarantine: true,
  readQuarantine: true,
  rejectHistogram: true,
  rejectCounts: true,
  status: true,
  putApiKey: true,
  getApiKey: true,
  listApiKeys: true,
  revokeApiKey: true,
  sql: true,
  exportFile: true,
  exportLake: true,
};

export function storeService(
  store: Store,
  hooks: { afterCall?: (method: StoreMethod) => void } = {},
): ControlService {
  const service: ControlService = {
    kind: async () => store.kind,
  };
  for (const name of Object.keys(STORE_METHODS) as StoreMethod[]) {
    service[name] = async (args) => {
      const fn = store[name] as (...a: unknown[]) => Promise<unknown>;
      const value = await fn.apply(store, args);
      hooks.afterCall?.(name);
      return value;
    };
  }
  return service;
}

export async function remoteStore(client: ControlClient): Promise<Store> {
  const kind = await client.call<string>('store', 'kind');
  const store: Record<string, unknown> = {
    kind,
    close: async () => client.close(),
  };
  for (const name of Object.keys(STORE_METHODS)) {
    store[name] = (...args: unknown[]) => client.call('store', name, args);
  }
  return store as unknown as Store;
}
