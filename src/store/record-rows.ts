/** Records from the rows SQL stores answer (timestamps as epoch ms, NULL as null). */
import type { Bar } from '../core/records.ts';
import type { Interval } from '../core/time.ts';
import type { ApiKeyRecord, QuarantineRow } from './store.ts';

export function toQuarantineRow(r: Record<string, unknown>): QuarantineRow {
  return {
    id: String(r.id),
    stage: r.stage as QuarantineRow['stage'],
    source: String(r.source),
    symbol: r.symbol === null || r.symbol === undefined ? null : String(r.symbol),
    interval:
      r.interval === null || r.interval === undefined ? null : (String(r.interval) as Interval),
    rule: String(r.rule),
    message: String(r.message),
    payload: String(r.payload),
    receivedAt: Number(r.received_at),
  };
}

export function toApiKey(r: Record<string, unknown>): ApiKeyRecord {
  return {
    id: String(r.id),
    name: r.name === null || r.name === undefined ? null : String(r.name),
    scope: r.scope === 'admin' ? 'admin' : 'read',
    salt: String(r.salt),
    hash: String(r.hash),
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null || r.revoked_at === undefined ? null : Number(r.revoked_at),
  };
}

/**
 * A bar's stored values after its key, in the order the shared stores write them: open, high,
 * low, close, volume, adj_close, source, vwap, trade_count, backfilled (null where absent).
 */
export const barValues = (b: Bar): (number | string | boolean | null)[] => [
  b.open,
  b.high,
  b.low,
  b.close,
  b.volume,
  b.adjClose,
  b.source,
  b.vwap ?? null,
  b.tradeCount ?? null,
  b.backfilled === true,
];
