/**
 * How a batch is written to Cassandra, idempotent on every natural key. An
 * upsert is free in CQL, but the write result counts what was new or
 * changed, so each partition a batch touches is read over the batch's time
 * range first (one query a partition), and only rows that are new or
 * changed are written, in unlogged batches that each stay inside one
 * partition. Bars go by ((symbol, interval, bucket), ts), trades by
 * ((symbol, day), ts, trade_id); a record lands in exactly one partition, so
 * no update can leave a stale copy elsewhere.
 */
import cassandra from 'cassandra-driver';
import type { Bar, Quarantined, Trade } from '../../core/records.ts';
import { quarantineId, rawResponseId } from '../natural-keys.ts';
import { barValues } from '../record-rows.ts';
import type { WriteBatch, WriteResult } from '../store.ts';
import { bucketOf, dayOf } from './cassandra-schema.ts';
import type { CassandraSession } from './cassandra-session.ts';

const unset = cassandra.types.unset;
/** Rows per unlogged batch (all of one partition). */
const BATCH_ROWS = 100;

const BAR_INSERT = `INSERT INTO bars (symbol, interval, bucket, ts, open, high, low, close, volume,
  adj_close, source, vwap, trade_count, backfilled) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const TRADE_INSERT = `INSERT INTO trades (symbol, day, ts, trade_id, price, size, conditions, source)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;

/** Groups items by a key, keeping the first item of each identity (the first occurrence wins). */
function partitions<T>(
  items: readonly T[],
  part: (x: T) => string,
  identity: (x: T) => string,
): Map<string, T[]> {
  const seen = new Set<string>();
  const out = new Map<string, T[]>();
  for (const x of items) {
    const id = identity(x);
    if (seen.has(id)) continue;
    seen.add(id);
    const p = part(x);
    const list = out.get(p);
    if (list) list.push(x);
    else out.set(p, [x]);
  }
  return out;
}

async function inBatches(db: CassandraSession, statements: { query: string; params: unknown[] }[]) {
  const work: Promise<void>[] = [];
  for (let i = 0; i < statements.length; i += BATCH_ROWS) {
    work.push(db.batch(statements.slice(i, i + BATCH_ROWS)));
  }
  await Promise.all(work);
}

const same = (a: unknown, b: unknown): boolean =>
  a === b || (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b));

export class CassandraWriter {
  readonly #db: CassandraSession;
  /** Series and bucket rows known to exist (written by this process). */
  readonly #known = new Set<string>();

  constructor(db: CassandraSession) {
    this.#db = db;
  }

  /** Index rows (series, buckets, trade days) not written by this process yet. */
  async #index(rows: { key: string; query: string; params: unknown[] }[]): Promise<void> {
    const fresh = rows.filter((r) => !this.#known.has(r.key));
    await Promise.all(fresh.map((r) => this.#db.execute(r.query, r.params)));
    for (const r of fresh) this.#known.add(r.key);
  }

  async #bars(bars: readonly Bar[]): Promise<number> {
    const parts = partitions(
      bars,
      (b) => `${b.symbol}\u0000${b.interval}\u0000${bucketOf(b.interval, b.ts)}`,
      (b) => `${b.symbol}\u0000${b.interval}\u0000${b.ts}`,
    );
    let changed = 0;
    // The series and its buckets first: a write cut short leaves an empty bucket listed, never
    // rows no read can find (its replay writes them).
    const index: { key: string; query: string; params: unknown[] }[] = [];
    for (const list of parts.values()) {
      const { symbol, interval } = list[0]!;
      const bucket = bucketOf(interval, list[0]!.ts);
      index.push(
        {
          key: `s\u0000${symbol}\u0000${interval}`,
          query: 'INSERT INTO series (symbol, interval) VALUES (?, ?)',
          params: [symbol, interval],
        },
        {
          key: `b\u0000${symbol}\u0000${interval}\u0000${bucket}`,
          query: 'INSERT INTO series_buckets (symbol, interval, bucket) VALUES (?, ?, ?)',
          params: [symbol, interval, bucket],
        },
      );
    }
    await this.#index(index);
    await Promise.all(
      [...parts.values()].map(async (list) => {
        const { symbol, interval } = list[0]!;
        const bucket = bucketOf(interval, list[0]!.ts);
        let lo = Number.POSITIVE_INFINITY;
        let hi = Number.NEGATIVE_INFINITY;
        for (const b of list) {
          if (b.ts < lo) lo = b.ts;
          if (b.ts > hi) hi = b.ts;
        }
        const stored = new Map<number, unknown[]>();
        for (const r of await this.#db.all(
          `SELECT ts, open, high, low, close, volume, adj_close, source, vwap, trade_count, backfilled
           FROM bars WHERE symbol = ? AND interval = ? AND bucket = ? AND ts >= ? AND ts <= ?`,
          [symbol, interval, bucket, new Date(lo), new Date(hi)],
        )) {
          stored.set((r.ts as Date).getTime(), [
            r.open,
            r.high,
            r.low,
            r.close,
            r.volume,
            r.adj_close,
            r.source,
            r.vwap,
            r.trade_count,
            r.backfilled === true,
          ]);
        }
        const statements: { query: string; params: unknown[] }[] = [];
        for (const b of list) {
          const values = barValues(b);
          const old = stored.get(b.ts);
          if (old && values.every((v, i) => same(v, old[i]))) continue;
          // A new row writes no NULL cells (no tombstones); a changed one overwrites them all.
          const cells = old ? values : values.map((v) => (v === null ? unset : v));
          statements.push({
            query: BAR_INSERT,
            params: [symbol, interval, bucket, new Date(b.ts), ...cells],
          });
        }
        changed += statements.length;
        await inBatches(this.#db, statements);
      }),
    );
    return changed;
  }

  async #trades(trades: readonly Trade[]): Promise<number> {
    const parts = partitions(
      trades,
      (t) => `${t.symbol}\u0000${dayOf(t.ts)}`,
      (t) => `${t.symbol}\u0000${t.ts}\u0000${t.tradeId}`,
    );
    let inserted = 0;
    await this.#index(
      [...parts.values()].map((list) => {
        const symbol = list[0]!.symbol;
        const day = dayOf(list[0]!.ts);
        return {
          key: `d\u0000${symbol}\u0000${day}`,
          query: 'INSERT INTO trade_days (symbol, day) VALUES (?, ?)',
          params: [symbol, day],
        };
      }),
    );
    await Promise.all(
      [...parts.values()].map(async (list) => {
        const symbol = list[0]!.symbol;
        const day = dayOf(list[0]!.ts);
        let lo = Number.POSITIVE_INFINITY;
        let hi = Number.NEGATIVE_INFINITY;
        for (const t of list) {
          if (t.ts < lo) lo = t.ts;
          if (t.ts > hi) hi = t.ts;
        }
        const stored = new Set<string>();
        for (const r of await this.#db.all(
          'SELECT ts, trade_id FROM trades WHERE symbol = ? AND day = ? AND ts >= ? AND ts <= ?',
          [symbol, day, new Date(lo), new Date(hi)],
        )) {
          stored.add(`${(r.ts as Date).getTime()}\u0000${r.trade_id}`);
        }
        const statements = list
          .filter((t) => !stored.has(`${t.ts}\u0000${t.tradeId}`))
          .map((t) => ({
            query: TRADE_INSERT,
            params: [
              symbol,
              day,
              new Date(t.ts),
              t.tradeId,
              t.price,
              t.size,
              t.conditions,
              t.source,
            ],
          }));
        inserted += statements.length;
        await inBatches(this.#db, statements);
      }),
    );
    return inserted;
  }

  async #rejects(rejects: readonly Quarantined[]): Promise<number> {
    const byId = new Map<string, Quarantined>();
    for (const q of rejects) {
      const id = quarantineId(q);
      if (!byId.has(id)) byId.set(id, q);
    }
    const ids = [...byId.keys()];
    const stored = new Map<string, string | null>();
    for (let i = 0; i < ids.length; i += 100) {
      for (const r of await this.#db.all('SELECT id, interval FROM quarantine WHERE id IN ?', [
        ids.slice(i, i + 100),
      ])) {
        stored.set(String(r.id), (r.interval as string | null) ?? null);
      }
    }
    let fresh = 0;
    const work: Promise<unknown>[] = [];
    for (const [id, q] of byId) {
      if (stored.has(id)) {
        // A record quarantined before its interval was kept gets it when it is quarantined again.
        if (stored.get(id) === null && q.interval) {
          work.push(
            this.#db.execute('UPDATE quarantine SET interval = ? WHERE id = ?', [q.interval, id]),
          );
        }
        continue;
      }
      fresh++;
      const day = dayOf(q.receivedAt);
      const at = new Date(q.receivedAt);
      // The day's listing first and the record by id last: the id row is what a replay checks,
      // so a write cut short is completed by the replay.
      work.push(
        (async () => {
          await this.#index([
            {
              key: `q\u0000${day}`,
              query: 'INSERT INTO quarantine_days (shard, day) VALUES (0, ?)',
              params: [day],
            },
          ]);
          await this.#db.execute(
            'INSERT INTO quarantine_by_day (day, received_at, id) VALUES (?, ?, ?)',
            [day, at, id],
          );
          await this.#db.execute(
            `INSERT INTO quarantine (id, stage, source, symbol, interval, rule, message, payload, received_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            [
              id,
              q.stage,
              q.source,
              q.symbol ?? unset,
              q.interval ?? unset,
              q.rule,
              q.message,
              q.payload,
              at,
            ],
          );
        })(),
      );
    }
    await Promise.all(work);
    return fresh;
  }

  async write(batch: WriteBatch): Promise<WriteResult> {
    const work: Promise<unknown>[] = [];
    for (const r of batch.raw) {
      work.push(
        this.#db.execute(
          'INSERT INTO raw_responses (id, source, request, status, received_at, body) VALUES (?, ?, ?, ?, ?, ?)',
          [rawResponseId(r), r.source, r.request, r.status, new Date(r.receivedAt), r.body],
        ),
      );
    }
    for (const a of batch.actions) {
      work.push(
        this.#db.execute(
          'INSERT INTO corporate_actions (symbol, ts, kind, value, source) VALUES (?, ?, ?, ?, ?)',
          [a.symbol, new Date(a.ts), a.kind, a.value, a.source],
        ),
      );
    }
    for (const i of batch.instruments) {
      // Unset, not NULL: a field the provider did not give keeps what is stored.
      work.push(
        this.#db.execute(
          'INSERT INTO instruments (symbol, name, exchange, currency, timezone) VALUES (?, ?, ?, ?, ?)',
          [
            i.symbol,
            i.name ?? unset,
            i.exchange ?? unset,
            i.currency ?? unset,
            i.timezone ?? unset,
          ],
        ),
      );
    }
    const [barsChanged, quarantined, tradesInserted] = await Promise.all([
      batch.bars.length > 0 ? this.#bars(batch.bars) : 0,
      batch.rejects.length > 0 ? this.#rejects(batch.rejects) : 0,
      batch.trades && batch.trades.length > 0 ? this.#trades(batch.trades) : 0,
      Promise.all(work),
    ]);
    return { barsChanged, quarantined, tradesInserted };
  }
}
