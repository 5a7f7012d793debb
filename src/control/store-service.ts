/**
 * The store over the control channel: `storeService` serves a store's
 * methods and its capabilities' methods (as `capability.method`);
 * `remoteStore` is a Store whose every call runs in the process that holds
 * the data folder, so a command's output is the same either way.
 */
import {
  CAPABILITY_METHODS,
  type Capabilities,
  CapabilityError,
  type CapabilityName,
  type Store,
} from '../store/store.ts';
import type { ControlClient } from './control-client.ts';
import type { ControlService } from './control-server.ts';

type StoreMethod = Exclude<
  keyof Store,
  'kind' | 'queryCacheStats' | 'deriveFromBars' | 'close' | 'capability' | 'capabilities'
>;

/** Every core method callers may reach (the compiler checks the list is whole). */
const STORE_METHODS: Record<StoreMethod, true> = {
  write: true,
  refreshCurated: true,
  lastBarsBefore: true,
  readBars: true,
  readBarColumns: true,
  readEnrichedBars: true,
  readTrades: true,
  status: true,
  ping: true,
};

/** A method reached over the channel: a core one, or `capability.method`. */
export type StoreCall = StoreMethod | `${CapabilityName}.${string}`;

export function storeService(
  store: Store,
  hooks: { afterCall?: (method: StoreCall) => void; location?: string } = {},
): ControlService {
  const service: ControlService = {
    kind: async () => ({
      kind: store.kind,
      capabilities: store.capabilities(),
      location: hooks.location ?? null,
    }),
  };
  for (const name of Object.keys(STORE_METHODS) as StoreMethod[]) {
    service[name] = async (args) => {
      const fn = store[name] as (...a: unknown[]) => Promise<unknown>;
      const value = await fn.apply(store, args);
      hooks.afterCall?.(name);
      return value;
    };
  }
  for (const cap of Object.keys(CAPABILITY_METHODS) as CapabilityName[]) {
    for (const m of CAPABILITY_METHODS[cap]) {
      const call = `${cap}.${String(m)}` as StoreCall;
      service[call] = async (args) => {
        const c = store.capability(cap) as unknown as Record<string, (...a: unknown[]) => unknown>;
        const value = await c[m as string]!.apply(c, args);
        hooks.afterCall?.(call);
        return value;
      };
    }
  }
  return service;
}

/** The server's store, and where it is (its DuckDB file or its URL). */
export async function remoteStore(
  client: ControlClient,
): Promise<{ store: Store; location: string | null }> {
  const { kind, capabilities, location } = await client.call<{
    kind: string;
    capabilities: CapabilityName[];
    location: string | null;
  }>('store', 'kind');
  const caps: Partial<Record<CapabilityName, Record<string, unknown>>> = {};
  for (const cap of capabilities) {
    const proxy: Record<string, unknown> = {};
    for (const m of CAPABILITY_METHODS[cap]) {
      proxy[m as string] = (...args: unknown[]) =>
        client.call('store', `${cap}.${String(m)}`, args);
    }
    caps[cap] = proxy;
  }
  const store: Record<string, unknown> = {
    kind,
    close: async () => client.close(),
    capabilities: () => [...capabilities],
    capability: (name: CapabilityName) => {
      const c = caps[name];
      if (!c) throw new CapabilityError(name, kind);
      return c as unknown as Capabilities[CapabilityName];
    },
  };
  for (const name of Object.keys(STORE_METHODS)) {
    store[name] = (...args: unknown[]) => client.call('store', name, args);
  }
  return { store: store as unknown as Store, location };
}
