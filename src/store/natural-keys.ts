/** Natural keys of the records that have no key of their own: content hashes every store shares. */
import { createHash } from 'node:crypto';
import type { Quarantined, RawResponse } from '../core/records.ts';

export const sha = (...parts: string[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\u0000');
  return h.digest('hex').slice(0, 32);
};

/** Natural key of a quarantined record: where it was stopped, why, and what it was. */
export function quarantineId(q: Quarantined): string {
  return sha(q.stage, q.source, q.symbol ?? '', q.rule, q.payload);
}

/** Natural key of a raw response: who answered what, and the answer. */
export function rawResponseId(r: RawResponse): string {
  return sha(r.source, r.request, r.body);
}
