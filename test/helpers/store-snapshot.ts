/**
 * Everything a store holds, read through the store contract (no store's
 * SQL): every series' bars with every curated column, the trades of the
 * given (or listed) symbols, and quarantined records where the store has
 * quarantine admin. `storeChecksum` hashes it: equal for two stores (or two
 * runs) that hold the same rows.
 */
import { createHash } from 'node:crypto';
import type { QuarantineRow, Store } from '../../src/store/store.ts';
import { ENRICHED_COLUMNS } from '../../src/transform/enrich.ts';

export interface StoreSnapshot {
  series: Record<string, { rows: number; columns: Record<string, number[]>; sources: string[] }>;
  trades: Record<string, unknown[]>;
  quarantine: QuarantineRow[] | null;
}

export async function storeSnapshot(store: Store, tradeSymbols?: string[]): Promise<StoreSnapshot> {
  const status = await store.status();
  const series: StoreSnapshot['series'] = {};
  for (const s of status) {
    if (s.rows === 0) continue;
    const set = await store.readBarColumns(
      { symbol: s.symbol, interval: s.interval },
      ENRICHED_COLUMNS,
      true,
    );
    series[`${s.symbol} ${s.interval}`] = {
      rows: set.rows,
      // Sources by name (each store lists them in its own order).
      columns: Object.fromEntries(
        Object.entries(set.columns).map(([k, c]) => [
          k,
          k === 'source' ? [...c].map((i) => set.sources.indexOf(set.sources[i]!)) : [...c],
        ]),
      ),
      sources: [...set.columns.source!].map((i) => set.sources[i]!),
    };
    for (const v of Object.values(series)) delete v.columns.source;
  }
  const trades: StoreSnapshot['trades'] = {};
  for (const symbol of tradeSymbols ?? [...new Set(status.map((s) => s.symbol))]) {
    trades[symbol] = await store.readTrades({ symbol });
  }
  const quarantine = store.capabilities().includes('quarantine')
    ? await store.capability('quarantine').readQuarantine({ limit: 1_000_000 })
    : null;
  return { series, trades, quarantine };
}

/** Row counts and a checksum over a snapshot (NaN and null hash alike, as JSON has them). */
export async function storeChecksum(
  store: Store,
  tradeSymbols?: string[],
): Promise<{ bars: number; trades: number; quarantine: number; sha256: string }> {
  const snap = await storeSnapshot(store, tradeSymbols);
  return {
    bars: Object.values(snap.series).reduce((n, s) => n + s.rows, 0),
    trades: Object.values(snap.trades).reduce((n, t) => n + t.length, 0),
    quarantine: snap.quarantine?.length ?? 0,
    sha256: createHash('sha256').update(JSON.stringify(snap)).digest('hex'),
  };
}
