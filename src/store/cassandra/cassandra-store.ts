/**
 * The Apache Cassandra store driver: tables designed per query
 * (cassandra-schema.ts), writes as in cassandra-write.ts, reads that walk a
 * series' partitions in order with paging. `cassandra://host:port/keyspace`
 * creates the keyspace when it is missing (replication from the config).
 * Capabilities: quarantine admin, API keys and analytics (cassandra-admin.ts);
 * no SQL console and no lake export.
 */
import cassandra from 'cassandra-driver';
import { StoreConnectError } from '../../core/errors.ts';
import type { Interval } from '../../core/time.ts';
import { STORED_COLUMNS, type StoredColumn } from '../../transform/enrich.ts';
import {
  type BarColumnSet,
  type BarQuery,
  barColumnNames,
  type Capabilities,
  type IndicatorRows,
  type SeriesStatus,
  type StoreDriver,
  sourceColumn,
  type TradeColumnSet,
  type TradeQuery,
  type WriteBatch,
  type WriteResult,
} from '../store.ts';
import { cassandraCapabilities, scanQuarantine } from './cassandra-admin.ts';
import { BUCKETS, bucketOf, CQL_MIGRATIONS, dayOf } from './cassandra-schema.ts';
import { CassandraSession, parseCassandraUrl } from './cassandra-session.ts';
import { CassandraWriter } from './cassandra-write.ts';

export interface CassandraSettings {
  localDataCenter: string;
  replication: Record<string, string | number>;
  concurrency: number;
}

const num = (v: unknown): number => (v === null || v === undefined ? Number.NaN : (v as number));
const ms = (v: unknown): number => (v as Date).getTime();
/** Byte order, as the other stores sort text. */
const byBytes = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class CassandraStore implements StoreDriver {
  readonly kind = 'cassandra';
  readonly exclusive = false;
  readonly capabilities: Partial<Capabilities>;
  readonly #db: CassandraSession;
  readonly #writer: CassandraWriter;

  private constructor(db: CassandraSession) {
    this.#db = db;
    this.#writer = new CassandraWriter(db);
    this.capabilities = cassandraCapabilities(db);
  }

  static async open(url: string, settings: CassandraSettings): Promise<CassandraStore> {
    const { contactPoints, keyspace, credentials } = parseCassandraUrl(url);
    const where = `${contactPoints.join(',')}/${keyspace}`;
    const auth = credentials
      ? {
          authProvider: new cassandra.auth.PlainTextAuthProvider(
            credentials.username,
            credentials.password,
          ),
        }
      : {};
    const boot = new cassandra.Client({
      contactPoints,
      localDataCenter: settings.localDataCenter,
      ...auth,
    });
    try {
      await boot.connect();
      const replication = JSON.stringify(settings.replication).replaceAll('"', "'");
      await boot.execute(
        `CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = ${replication}`,
      );
    } catch (err) {
      await boot.shutdown().catch(() => undefined);
      const why = credentials?.password
        ? (err as Error).message.replaceAll(credentials.password, '***')
        : (err as Error).message;
      throw new StoreConnectError('Cassandra', where, why, err);
    }
    await boot.shutdown();
    const client = new cassandra.Client({
      contactPoints,
      localDataCenter: settings.localDataCenter,
      ...auth,
      keyspace,
      pooling: { coreConnectionsPerHost: { [cassandra.types.distance.local]: 2 } },
    });
    await client.connect();
    const db = new CassandraSession(client, where, settings.concurrency);
    await client.execute(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text, applied_at timestamp)',
    );
    const done = new Set(
      (await db.all('SELECT version FROM schema_migrations')).map((r) => r.version),
    );
    for (const m of CQL_MIGRATIONS) {
      if (done.has(m.version)) continue;
      // Each statement is IF NOT EXISTS: a migration cut short is run again whole.
      for (const cql of m.cql) await client.execute(cql);
      await client.execute(
        'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
        [m.version, m.name, new Date()],
        { prepare: true },
      );
    }
    return new CassandraStore(db);
  }

  write(batch: WriteBatch): Promise<WriteResult> {
    return this.#writer.write(batch);
  }

  /** The curated columns of each row from `from` on: one upsert a row, batched per partition. */
  async writeIndicators(parts: readonly IndicatorRows[]): Promise<void> {
    const query = `UPDATE bars SET ${STORED_COLUMNS.map((c) => `${c} = ?`).join(', ')}
      WHERE symbol = ? AND interval = ? AND bucket = ? AND ts = ?`;
    const work: Promise<void>[] = [];
    for (const p of parts) {
      let batch: { query: string; params: unknown[] }[] = [];
      let bucket = Number.NaN;
      const flush = () => {
        if (batch.length > 0) work.push(this.#db.batch(batch));
        batch = [];
      };
      for (let i = 0; i < p.ts.length; i++) {
        const ts = p.ts[i]!;
        const b = bucketOf(p.interval, ts);
        if (b !== bucket || batch.length >= 100) flush();
        bucket = b;
        batch.push({
          query,
          params: [...p.columns.map((c) => c[i]!), p.symbol, p.interval, b, new Date(ts)],
        });
      }
      flush();
    }
    await Promise.all(work);
  }

  async #buckets(symbol: string, interval: Interval): Promise<number[]> {
    return (
      await this.#db.all('SELECT bucket FROM series_buckets WHERE symbol = ? AND interval = ?', [
        symbol,
        interval,
      ])
    )
      .map((r) => r.bucket as number)
      .sort((a, b) => a - b);
  }

  async readBarColumns(
    q: BarQuery,
    indicators: readonly StoredColumn[],
    full: boolean,
  ): Promise<BarColumnSet> {
    const names = barColumnNames(indicators, full);
    const desc = q.order === 'desc';
    const from = q.from ?? Number.NEGATIVE_INFINITY;
    const to = q.to ?? Number.POSITIVE_INFINITY;
    let buckets = await this.#buckets(q.symbol, q.interval);
    if (BUCKETS[q.interval] !== 'all') {
      const lo = Number.isFinite(from) ? bucketOf(q.interval, from) : Number.NEGATIVE_INFINITY;
      const hi = Number.isFinite(to) ? bucketOf(q.interval, to - 1) : Number.POSITIVE_INFINITY;
      buckets = buckets.filter((b) => b >= lo && b <= hi);
    }
    if (desc) buckets.reverse();
    const limit = q.limit ?? Number.POSITIVE_INFINITY;
    const rows: cassandra.types.Row[] = [];
    const cols = names.filter((n) => n !== 'source').concat(full ? ['source'] : []);
    for (const bucket of buckets) {
      if (rows.length >= limit) break;
      const want = limit - rows.length;
      const params: unknown[] = [q.symbol, q.interval, bucket];
      let where = 'symbol = ? AND interval = ? AND bucket = ?';
      if (Number.isFinite(from)) {
        where += ' AND ts >= ?';
        params.push(new Date(from));
      }
      if (Number.isFinite(to)) {
        where += ' AND ts < ?';
        params.push(new Date(to));
      }
      const lim = Number.isFinite(want) ? ` LIMIT ${want}` : '';
      const got = await this.#db.all(
        `SELECT ${cols.join(', ')} FROM bars WHERE ${where} ORDER BY ts ${desc ? 'DESC' : 'ASC'}${lim}`,
        params,
      );
      for (const r of got) rows.push(r);
    }
    const n = rows.length;
    const columns: Record<string, Float64Array> = {};
    const sources: string[] = [];
    for (const name of names) {
      const col = new Float64Array(n);
      if (name === 'source') {
        const made = sourceColumn(n, (i) => rows[i]!.source as string);
        col.set(made.column);
        sources.push(...made.sources);
      } else if (name === 'ts') for (let i = 0; i < n; i++) col[i] = ms(rows[i]!.ts);
      else if (name === 'backfilled')
        for (let i = 0; i < n; i++) col[i] = rows[i]!.backfilled === true ? 1 : 0;
      else for (let i = 0; i < n; i++) col[i] = num(rows[i]![name]);
      columns[name] = col;
    }
    return { rows: n, columns, sources };
  }

  async readTradeColumns(q: TradeQuery): Promise<TradeColumnSet> {
    const days = (await this.#db.all('SELECT day FROM trade_days WHERE symbol = ?', [q.symbol]))
      .map((r) => r.day as number)
      .filter(
        (d) =>
          (q.from === undefined || d >= dayOf(q.from)) &&
          (q.to === undefined || d <= dayOf(q.to - 1)) &&
          (q.after === undefined || d >= dayOf(q.after.ts)),
      )
      .sort((a, b) => a - b);
    const limit = q.limit ?? Number.POSITIVE_INFINITY;
    const out: cassandra.types.Row[] = [];
    for (const day of days) {
      if (out.length >= limit) break;
      const params: unknown[] = [q.symbol, day];
      let where = 'symbol = ? AND day = ?';
      if (q.from !== undefined) {
        where += ' AND ts >= ?';
        params.push(new Date(q.from));
      }
      if (q.to !== undefined) {
        where += ' AND ts < ?';
        params.push(new Date(q.to));
      }
      if (q.after) {
        // Clustering order (ts, trade_id): a multi-column slice resumes after the cursor.
        where += ' AND (ts, trade_id) > (?, ?)';
        params.push(new Date(q.after.ts), q.after.tradeId);
      }
      const want = limit - out.length;
      const lim = Number.isFinite(want) ? ` LIMIT ${want}` : '';
      for (const r of await this.#db.all(
        `SELECT ts, trade_id, price, size, conditions, source FROM trades WHERE ${where}${lim}`,
        params,
      )) {
        out.push(r);
      }
    }
    return {
      rows: out.length,
      ts: Float64Array.from(out, (r) => ms(r.ts)),
      price: Float64Array.from(out, (r) => r.price as number),
      size: Float64Array.from(out, (r) => r.size as number),
      conditions: out.map((r) => r.conditions as string),
      tradeId: out.map((r) => r.trade_id as string),
      source: out.map((r) => r.source as string),
    };
  }

  async listSeries(): Promise<SeriesStatus[]> {
    const series = await this.#db.all('SELECT symbol, interval FROM series');
    const out = new Map<string, SeriesStatus & { sym: string | null; iv: string | null }>();
    const key = (s: string | null, i: string | null) => `${s ?? '\uffff'}\u0000${i ?? '\uffff'}`;
    await Promise.all(
      series.map(async (r) => {
        const symbol = r.symbol as string;
        const interval = r.interval as Interval;
        const buckets = await this.#buckets(symbol, interval);
        const [agg] = await this.#db.all(
          'SELECT count(*) AS n, min(ts) AS lo, max(ts) AS hi FROM bars WHERE symbol = ? AND interval = ? AND bucket IN ?',
          [symbol, interval, buckets],
        );
        const n = Number(agg?.n ?? 0);
        out.set(key(symbol, interval), {
          sym: symbol,
          iv: interval,
          symbol,
          interval,
          rows: n,
          firstTs: n > 0 ? ms(agg!.lo) : Number.NaN,
          lastTs: n > 0 ? ms(agg!.hi) : Number.NaN,
          rejects: 0,
        });
      }),
    );
    // Trades are a row per symbol without an interval, beside the rejects without one.
    const tradeDays = new Map<string, number[]>();
    for (const r of await this.#db.all('SELECT symbol, day FROM trade_days')) {
      const list = tradeDays.get(r.symbol as string) ?? [];
      list.push(r.day as number);
      tradeDays.set(r.symbol as string, list);
    }
    await Promise.all(
      [...tradeDays].map(async ([symbol, days]) => {
        const [agg] = await this.#db.all(
          'SELECT count(*) AS n, min(ts) AS lo, max(ts) AS hi FROM trades WHERE symbol = ? AND day IN ?',
          [symbol, days],
        );
        const n = Number(agg?.n ?? 0);
        if (n === 0) return;
        out.set(key(symbol, null), {
          sym: symbol,
          iv: null,
          symbol,
          interval: '-' as Interval,
          rows: n,
          firstTs: ms(agg!.lo),
          lastTs: ms(agg!.hi),
          rejects: 0,
        });
      }),
    );
    for (const r of await scanQuarantine(this.#db, ['symbol', 'interval'])) {
      const sym = (r.symbol as string | null) ?? null;
      const iv = (r.interval as string | null) ?? null;
      const k = key(sym, iv);
      const s = out.get(k);
      if (s) s.rejects++;
      else {
        out.set(k, {
          sym,
          iv,
          symbol: sym ?? '(none)',
          interval: (iv ?? '-') as Interval,
          rows: 0,
          firstTs: Number.NaN,
          lastTs: Number.NaN,
          rejects: 1,
        });
      }
    }
    // By symbol then interval, a missing one last (as SQL's NULLS LAST).
    return [...out.entries()]
      .sort(([a], [b]) => byBytes(a, b))
      .map(([, { sym: _s, iv: _i, ...s }]) => s);
  }

  async ping(): Promise<void> {
    await this.#db.execute('SELECT release_version FROM system.local');
  }

  async close(): Promise<void> {
    await this.#db.client.shutdown();
  }
}
