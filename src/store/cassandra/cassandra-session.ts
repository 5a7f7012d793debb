/**
 * A cassandra-driver client for one keyspace: prepared, idempotent
 * statements; unlogged batches that each stay inside one partition; a bound
 * on statements in flight; paged reads; and the store's errors around
 * failures. The driver's default load balancing is token-aware over the
 * local data centre, so each partition's statements go to a replica of it.
 */
import type cassandra from 'cassandra-driver';
import pLimit from 'p-limit';
import { StoreError } from '../../core/errors.ts';

export type Params = unknown[];

/** host:port list and keyspace of a cassandra:// URL. */
export function parseCassandraUrl(url: string): {
  contactPoints: string[];
  keyspace: string;
  /** user:password@ in the URL: a login (PasswordAuthenticator). */
  credentials: { username: string; password: string } | null;
} {
  const m =
    /^cassandra:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#@]+)\/([A-Za-z][A-Za-z0-9_]{0,47})\/?$/.exec(
      url,
    );
  if (!m) {
    // The URL may hold a password: shown without it.
    const shown = url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
    throw new StoreError(
      `not a Cassandra URL: ${shown} (cassandra://[user:password@]host[:port][,host[:port]…]/keyspace)`,
      'connect',
      [],
    );
  }
  const contactPoints = m[3]!.split(',').map((h) => (h.includes(':') ? h : `${h}:9042`));
  const credentials =
    m[1] !== undefined
      ? { username: decodeURIComponent(m[1]), password: decodeURIComponent(m[2] ?? '') }
      : null;
  return { contactPoints, keyspace: m[4]!, credentials };
}

export class CassandraSession {
  readonly client: cassandra.Client;
  readonly where: string;
  readonly #limit: ReturnType<typeof pLimit>;

  constructor(client: cassandra.Client, where: string, concurrency: number) {
    this.client = client;
    this.where = where;
    this.#limit = pLimit(concurrency);
  }

  #fail(err: unknown, query: string, params: Params): StoreError {
    return new StoreError(
      `Cassandra query failed (${this.where}): ${(err as Error).message}`,
      query,
      params,
      err,
    );
  }

  /** One prepared statement (bounded with the others in flight). */
  execute(query: string, params: Params = []): Promise<cassandra.types.ResultSet> {
    return this.#limit(async () => {
      try {
        return await this.client.execute(query, params, { prepare: true, isIdempotent: true });
      } catch (err) {
        throw this.#fail(err, query, params);
      }
    });
  }

  /** Statements of one partition as one unlogged batch (one round trip, one replica set). */
  batch(statements: { query: string; params: Params }[]): Promise<void> {
    if (statements.length === 1)
      return this.execute(statements[0]!.query, statements[0]!.params).then(() => undefined);
    return this.#limit(async () => {
      try {
        await this.client.batch(statements, { prepare: true, logged: false, isIdempotent: true });
      } catch (err) {
        throw this.#fail(err, statements[0]?.query ?? 'batch', []);
      }
    });
  }

  /**
   * Every row of a query, page by page; each page bounded with the other statements in flight
   * (a write touching thousands of partitions reads each one first).
   */
  async all(query: string, params: Params = [], fetchSize = 5000): Promise<cassandra.types.Row[]> {
    const rows: cassandra.types.Row[] = [];
    let pageState: string | undefined;
    for (;;) {
      const page = pageState;
      let rs: cassandra.types.ResultSet;
      try {
        rs = await this.#limit(() =>
          this.client.execute(query, params, {
            prepare: true,
            fetchSize,
            ...(page ? { pageState: page } : {}),
          }),
        );
      } catch (err) {
        throw this.#fail(err, query, params);
      }
      for (const r of rs.rows) rows.push(r);
      pageState = rs.pageState ?? undefined;
      if (!pageState) return rows;
    }
  }
}
