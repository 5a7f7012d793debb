/**
 * The Cassandra store's capabilities: quarantine admin (by id, and newest
 * first day by day), API keys (revocation as a lightweight transaction, so it
 * happens once) and analytics. Counting goes over the table's pages: fine
 * for quarantined records and keys, which are few; a full count of bars or
 * trades is a scan, as in any Cassandra cluster.
 */
import type cassandra from 'cassandra-driver';
import type { QuarantineStage } from '../../core/records.ts';
import type { Interval } from '../../core/time.ts';
import { toApiKey, toQuarantineRow } from '../record-rows.ts';
import type { ApiKeyRecord, Capabilities, QuarantineQuery, QuarantineRow } from '../store.ts';
import { dayOf } from './cassandra-schema.ts';
import type { CassandraSession } from './cassandra-session.ts';

const QUARANTINE_COLUMNS =
  'id, stage, source, symbol, interval, rule, message, payload, received_at';

const ms = (v: unknown): number | null => (v instanceof Date ? v.getTime() : null);

/** A Cassandra row's timestamps as epoch ms, for the shared mappers. */
const quarantineRow = (r: cassandra.types.Row): QuarantineRow =>
  toQuarantineRow({ ...rowObject(r), received_at: ms(r.received_at) });
const apiKey = (r: cassandra.types.Row): ApiKeyRecord =>
  toApiKey({ ...rowObject(r), created_at: ms(r.created_at), revoked_at: ms(r.revoked_at) });

function rowObject(r: cassandra.types.Row): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const k of r.keys()) o[k] = r.get(k);
  return o;
}

/** Every quarantined record's given columns (a scan over the table's pages). */
export function scanQuarantine(
  db: CassandraSession,
  columns: string[],
): Promise<cassandra.types.Row[]> {
  return db.all(`SELECT ${columns.join(', ')} FROM quarantine`);
}

/** Quarantined records newest first, day by day from the newest day, until `limit` match. */
async function readQuarantine(db: CassandraSession, q: QuarantineQuery): Promise<QuarantineRow[]> {
  const limit = q.limit ?? 100;
  const days = (await db.all('SELECT day FROM quarantine_days WHERE shard = 0'))
    .map((r) => r.day as number)
    .filter(
      (d) =>
        (q.from === undefined || d >= dayOf(q.from)) &&
        (q.to === undefined || d <= dayOf(q.to - 1)),
    )
    .sort((a, b) => b - a);
  const out: QuarantineRow[] = [];
  for (const day of days) {
    const params: unknown[] = [day];
    let where = 'day = ?';
    if (q.from !== undefined) {
      where += ' AND received_at >= ?';
      params.push(new Date(q.from));
    }
    if (q.to !== undefined) {
      where += ' AND received_at < ?';
      params.push(new Date(q.to));
    }
    const ids = (await db.all(`SELECT id FROM quarantine_by_day WHERE ${where}`, params)).map((r) =>
      String(r.id),
    );
    const rows = new Map<string, QuarantineRow>();
    for (let i = 0; i < ids.length; i += 100) {
      for (const r of await db.all(`SELECT ${QUARANTINE_COLUMNS} FROM quarantine WHERE id IN ?`, [
        ids.slice(i, i + 100),
      ])) {
        rows.set(String(r.id), quarantineRow(r));
      }
    }
    // quarantine_by_day's order (received_at DESC, id); a deleted record is gone from both.
    for (const id of ids) {
      const r = rows.get(id);
      if (!r) continue;
      if (q.rule && r.rule !== q.rule) continue;
      if (q.symbol && r.symbol !== q.symbol) continue;
      if (q.interval && r.interval !== q.interval) continue;
      if (q.stage && r.stage !== q.stage) continue;
      out.push(r);
      if (out.length >= limit) return out;
    }
  }
  return out;
}

export function cassandraCapabilities(db: CassandraSession): Partial<Capabilities> {
  return {
    quarantine: {
      getQuarantine: async (id) => {
        const [r] = await db.all(`SELECT ${QUARANTINE_COLUMNS} FROM quarantine WHERE id = ?`, [id]);
        return r ? quarantineRow(r) : null;
      },
      deleteQuarantine: async (id) => {
        const [r] = await db.all('SELECT received_at FROM quarantine WHERE id = ?', [id]);
        if (!r) return false;
        const at = r.received_at as Date;
        await db.execute(
          'DELETE FROM quarantine_by_day WHERE day = ? AND received_at = ? AND id = ?',
          [dayOf(at.getTime()), at, id],
        );
        await db.execute('DELETE FROM quarantine WHERE id = ?', [id]);
        return true;
      },
      readQuarantine: (q) => readQuarantine(db, q),
      rejectCounts: async () => {
        const counts = new Map<string, number>();
        for (const r of await scanQuarantine(db, ['rule'])) {
          counts.set(String(r.rule), (counts.get(String(r.rule)) ?? 0) + 1);
        }
        return Object.fromEntries([...counts].sort(([a], [b]) => (a < b ? -1 : 1)));
      },
    },
    keys: {
      putApiKey: async (k) => {
        await db.execute(
          'INSERT INTO api_keys (id, name, scope, salt, hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
          [k.id, k.name, k.scope, k.salt, k.hash, new Date(k.createdAt)],
        );
      },
      getApiKey: async (id) => {
        const [r] = await db.all('SELECT * FROM api_keys WHERE id = ?', [id]);
        return r ? apiKey(r) : null;
      },
      listApiKeys: async () =>
        (await db.all('SELECT * FROM api_keys'))
          .map(apiKey)
          .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1)),
      revokeApiKey: async (id) => {
        // A lightweight transaction on a missing row would create it: look first.
        if ((await db.all('SELECT id FROM api_keys WHERE id = ?', [id])).length === 0) return false;
        const rs = await db.client.execute(
          'UPDATE api_keys SET revoked_at = ? WHERE id = ? IF revoked_at = null',
          [new Date(), id],
          { prepare: true },
        );
        return rs.wasApplied();
      },
    },
    analytics: {
      rejectHistogram: async (bucketMs, f = {}) => {
        const rows = await readQuarantine(db, {
          ...(f.from !== undefined ? { from: f.from } : {}),
          ...(f.to !== undefined ? { to: f.to } : {}),
          ...(f.rule !== undefined ? { rule: f.rule } : {}),
          ...(f.symbol !== undefined ? { symbol: f.symbol } : {}),
          ...(f.stage !== undefined ? { stage: f.stage as QuarantineStage } : {}),
          ...(f.interval !== undefined ? { interval: f.interval as Interval } : {}),
          limit: Number.MAX_SAFE_INTEGER,
        });
        const counts = new Map<string, { ts: number; rule: string; n: number }>();
        for (const r of rows) {
          const ts = Math.floor(r.receivedAt / bucketMs) * bucketMs;
          const k = `${ts}\u0000${r.rule}`;
          const c = counts.get(k);
          if (c) c.n++;
          else counts.set(k, { ts, rule: r.rule, n: 1 });
        }
        return [...counts.values()].sort((a, b) => a.ts - b.ts || (a.rule < b.rule ? -1 : 1));
      },
      layerCounts: async () => {
        const count = async (table: string) =>
          Number((await db.all(`SELECT count(*) AS n FROM ${table}`))[0]?.n ?? 0);
        const curated = Number((await db.all('SELECT count(sma_20) AS n FROM bars'))[0]?.n ?? 0);
        return {
          raw_responses: await count('raw_responses'),
          trades: await count('trades'),
          bars: await count('bars'),
          corporate_actions: await count('corporate_actions'),
          bar_indicators: curated,
          quarantine: await count('quarantine'),
        };
      },
    },
  };
}
