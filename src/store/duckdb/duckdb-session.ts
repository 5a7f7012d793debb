/**
 * One DuckDB connection with its calls run one at a time (a connection runs one statement at a
 * time, and a transaction must not interleave with another caller's statements), and the
 * store's errors around its failures.
 */
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { StoreError } from '../../core/errors.ts';
import { toPlain } from './duckdb-values.ts';

export class DuckDBSession {
  readonly conn: DuckDBConnection;
  #queue: Promise<unknown> = Promise.resolve();
  /** Called after SQL a user ran that may have changed anything (drops what the store keeps). */
  onUserWrite: () => void = () => undefined;

  constructor(conn: DuckDBConnection) {
    this.conn = conn;
  }

  #closed = false;

  /** Runs `fn` after every earlier call on this connection has finished. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    // A closed connection's native handle must not be touched again (it would crash the process).
    if (this.#closed)
      return Promise.reject(new StoreError('the DuckDB store is closed', 'closed', []));
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** Runs `fn` (the close) after every earlier call; any later call is refused. */
  closeWith(fn: () => Promise<void>): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const last = this.serial(fn);
    this.#closed = true;
    return last;
  }

  async run(query: string, params: DuckDBValue[] = []) {
    try {
      return await this.conn.run(query, params);
    } catch (err) {
      throw new StoreError(`DuckDB query failed: ${(err as Error).message}`, query, params, err);
    }
  }

  async rows(query: string, params: DuckDBValue[] = []): Promise<Record<string, unknown>[]> {
    try {
      const reader = await this.conn.runAndReadAll(query, params);
      return reader.getRowObjectsJS().map((r) => toPlain(r) as Record<string, unknown>);
    } catch (err) {
      throw new StoreError(`DuckDB query failed: ${(err as Error).message}`, query, params, err);
    }
  }
}
