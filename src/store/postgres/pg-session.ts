/** A PostgreSQL pool with the store's errors around its failures, and transactions on one client. */
import pg from 'pg';
import { StoreConnectError, StoreError } from '../../core/errors.ts';

/** Where a URL points, without its password: for messages. */
export function pgWhere(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return 'the configured server';
  }
}

/** A connection failure, said plainly: above all a TLS certificate the given CA does not vouch for. */
export function connectError(url: string, err: unknown): StoreConnectError | StoreError {
  if (err instanceof StoreError || err instanceof StoreConnectError) return err;
  const e = err as Error & { code?: string };
  const where = pgWhere(url);
  const tls: Record<string, string> = {
    SELF_SIGNED_CERT_IN_CHAIN: 'the server certificate is not signed by the CA in sslrootcert',
    DEPTH_ZERO_SELF_SIGNED_CERT:
      'the server certificate is self-signed and not the CA in sslrootcert',
    UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      'the server certificate is not signed by the CA in sslrootcert',
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      'the server certificate is not signed by the CA in sslrootcert',
    ERR_TLS_CERT_ALTNAME_INVALID: 'the server certificate does not name this host (verify-full)',
    CERT_HAS_EXPIRED: 'the server certificate has expired',
  };
  const why = e.code && tls[e.code] ? `TLS: ${tls[e.code]} (${e.message})` : e.message;
  return new StoreConnectError('PostgreSQL', where, why, err);
}

export class PgSession {
  readonly pool: pg.Pool;
  readonly url: string;

  constructor(url: string, poolSize: number) {
    this.url = url;
    this.pool = new pg.Pool({
      connectionString: url,
      max: poolSize,
      // Unqualified names in a user's SQL find the layers' tables.
      options: '-c search_path=staging,warehouse,tickline,public',
    });
    // An idle client's error (a server restart) must not end the process; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  async query<R extends pg.QueryResultRow = Record<string, unknown>>(
    text: string,
    params: unknown[] = [],
    client: pg.Pool | pg.PoolClient = this.pool,
  ): Promise<pg.QueryResult<R>> {
    try {
      return await client.query<R>(text, params);
    } catch (err) {
      throw new StoreError(`PostgreSQL query failed: ${(err as Error).message}`, text, params, err);
    }
  }

  /** Rows as arrays (no object per row): the bulk reads' form. */
  async arrays(text: string, params: unknown[] = []): Promise<unknown[][]> {
    try {
      return (await this.pool.query({ text, values: params, rowMode: 'array' }))
        .rows as unknown[][];
    } catch (err) {
      throw new StoreError(`PostgreSQL query failed: ${(err as Error).message}`, text, params, err);
    }
  }

  /** Runs `fn` in one transaction on one client; rolls back when it throws. */
  async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw connectError(this.url, err);
    }
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (err instanceof StoreError) throw err;
      throw new StoreError(`PostgreSQL write failed: ${(err as Error).message}`, 'write', [], err);
    } finally {
      client.release();
    }
  }
}
