/** The run store in a DuckDB file of its own (runs.duckdb in the data folder). */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBValue,
  listValue,
} from '@duckdb/node-api';
import { StoreError } from '../../core/errors.ts';
import {
  attemptValues,
  resultValues,
  rowToAlert,
  rowToAttempt,
  rowToAudit,
  rowToLog,
  rowToRun,
  rowToTick,
} from './run-rows.ts';
import type {
  AlertRecord,
  AttemptRecord,
  AttemptResult,
  AuditEntry,
  ClaimLimits,
  LogLine,
  NewAttempt,
  RunQuery,
  RunRecord,
  RunState,
  RunStore,
  TickRecord,
} from './run-store.ts';

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS runs (
    id VARCHAR PRIMARY KEY, pipeline VARCHAR NOT NULL, trigger VARCHAR NOT NULL, state VARCHAR NOT NULL,
    scheduled_for BIGINT NOT NULL, created_at BIGINT NOT NULL, started_at BIGINT, ended_at BIGINT,
    params VARCHAR NOT NULL, rows BIGINT NOT NULL DEFAULT 0, rejects BIGINT NOT NULL DEFAULT 0, error VARCHAR)`,
  `CREATE TABLE IF NOT EXISTS attempts (
    id VARCHAR PRIMARY KEY, run_id VARCHAR NOT NULL, pipeline VARCHAR NOT NULL, task VARCHAR NOT NULL,
    partition VARCHAR NOT NULL, attempt INTEGER NOT NULL, trigger VARCHAR NOT NULL, state VARCHAR NOT NULL,
    due_at BIGINT NOT NULL, started_at BIGINT, ended_at BIGINT, rows BIGINT NOT NULL DEFAULT 0,
    rejects BIGINT NOT NULL DEFAULT 0, error VARCHAR, owner VARCHAR, heartbeat_at BIGINT, end_seq BIGINT,
    retry_at BIGINT)`,
  'CREATE INDEX IF NOT EXISTS attempts_run ON attempts (run_id)',
  'CREATE SEQUENCE IF NOT EXISTS attempt_end_seq',
  `CREATE TABLE IF NOT EXISTS task_logs (
    run_id VARCHAR NOT NULL, task VARCHAR NOT NULL, partition VARCHAR NOT NULL, attempt INTEGER NOT NULL,
    ts BIGINT NOT NULL, level VARCHAR NOT NULL, message VARCHAR NOT NULL, seq BIGINT NOT NULL)`,
  'CREATE SEQUENCE IF NOT EXISTS log_seq',
  `CREATE TABLE IF NOT EXISTS ticks (
    pipeline VARCHAR NOT NULL, scheduled_for BIGINT NOT NULL, evaluated_at BIGINT NOT NULL,
    outcome VARCHAR NOT NULL, reason VARCHAR, run_id VARCHAR, PRIMARY KEY (pipeline, scheduled_for))`,
  `CREATE TABLE IF NOT EXISTS alerts (
    id VARCHAR PRIMARY KEY, rule VARCHAR NOT NULL, key VARCHAR NOT NULL, state VARCHAR NOT NULL,
    channel VARCHAR NOT NULL, outcome VARCHAR NOT NULL, subject VARCHAR NOT NULL, body VARCHAR NOT NULL,
    sent_at BIGINT NOT NULL, error VARCHAR)`,
  `CREATE TABLE IF NOT EXISTS audit_log (
    id VARCHAR PRIMARY KEY, recorded_at BIGINT NOT NULL, actor VARCHAR NOT NULL, action VARCHAR NOT NULL,
    target VARCHAR, outcome VARCHAR NOT NULL, detail VARCHAR)`,
  `CREATE TABLE IF NOT EXISTS imported_files (
    pipeline VARCHAR NOT NULL, task VARCHAR NOT NULL, hash VARCHAR NOT NULL, file VARCHAR NOT NULL,
    imported_at BIGINT NOT NULL, PRIMARY KEY (pipeline, task, hash))`,
  `CREATE TABLE IF NOT EXISTS unfillable (
    symbol VARCHAR NOT NULL, interval VARCHAR NOT NULL, ts BIGINT NOT NULL, reason VARCHAR NOT NULL,
    checked_at BIGINT NOT NULL, PRIMARY KEY (symbol, interval, ts))`,
];

const n = (v: number | null | undefined): DuckDBValue =>
  v === null || v === undefined ? null : BigInt(Math.round(v));

export class DuckDBRunStore implements RunStore {
  readonly kind = 'duckdb';
  readonly #instance: DuckDBInstance;
  readonly #conn: DuckDBConnection;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(instance: DuckDBInstance, conn: DuckDBConnection) {
    this.#instance = instance;
    this.#conn = conn;
  }

  static async open(path: string): Promise<DuckDBRunStore> {
    if (path !== ':memory:') await mkdir(dirname(path), { recursive: true });
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(path);
    } catch (err) {
      throw new StoreError(
        `cannot open the run history ${path}: ${(err as Error).message} (is another tickline process using it?)`,
        'open',
        [],
        err,
      );
    }
    const conn = await instance.connect();
    const store = new DuckDBRunStore(instance, conn);
    for (const sql of SCHEMA) await store.#exec(sql);
    return store;
  }

  /** One statement or transaction at a time on the one connection. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    // A closed connection's native handle must not be touched again (it would crash the process).
    if (this.#closed) return Promise.reject(new StoreError('run history: closed', 'closed', []));
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => {});
    return next;
  }

  async #exec(sql: string, params: DuckDBValue[] = []): Promise<void> {
    try {
      await this.#conn.run(sql, params);
    } catch (err) {
      throw new StoreError(`run history: ${(err as Error).message}`, sql, params, err);
    }
  }

  async #rows(sql: string, params: DuckDBValue[] = []): Promise<Record<string, unknown>[]> {
    try {
      const reader = await this.#conn.runAndReadAll(sql, params);
      return reader.getRowObjectsJS() as Record<string, unknown>[];
    } catch (err) {
      throw new StoreError(`run history: ${(err as Error).message}`, sql, params, err);
    }
  }

  async #tx<T>(fn: () => Promise<T>): Promise<T> {
    await this.#exec('BEGIN TRANSACTION');
    try {
      const out = await fn();
      await this.#exec('COMMIT');
      return out;
    } catch (err) {
      await this.#exec('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  createRun(r: RunRecord): Promise<void> {
    return this.#serial(() =>
      this.#exec(
        `INSERT INTO runs VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
        [
          r.id,
          r.pipeline,
          r.trigger,
          r.state,
          n(r.scheduledFor),
          n(r.createdAt),
          n(r.startedAt),
          n(r.endedAt),
          JSON.stringify(r.params),
          n(r.rows),
          n(r.rejects),
          r.error,
        ],
      ),
    );
  }

  setRunState(
    id: string,
    state: RunState,
    at: number,
    extra: { rows?: number; rejects?: number; error?: string | null } = {},
  ): Promise<boolean> {
    return this.#serial(async () => {
      const ended = state === 'succeeded' || state === 'failed' || state === 'cancelled';
      const rows = await this.#rows(
        `UPDATE runs SET state = $2,
           started_at = CASE WHEN $2 = 'running' AND started_at IS NULL THEN $3 ELSE started_at END,
           ended_at = CASE WHEN $4 THEN $3 ELSE NULL END,
           rows = coalesce($5, rows), rejects = coalesce($6, rejects),
           error = CASE WHEN $7 THEN $8 ELSE error END
         WHERE id = $1 AND (state NOT IN ('succeeded', 'failed', 'cancelled') OR $2 IN ('queued', 'running'))
         RETURNING id`,
        [
          id,
          state,
          n(at),
          ended,
          n(extra.rows),
          n(extra.rejects),
          extra.error !== undefined,
          extra.error ?? null,
        ],
      );
      return rows.length > 0;
    });
  }

  getRun(id: string): Promise<RunRecord | null> {
    return this.#serial(async () => {
      const rows = await this.#rows('SELECT * FROM runs WHERE id = $1', [id]);
      return rows[0] ? rowToRun(rows[0]) : null;
    });
  }

  listRuns(q: RunQuery): Promise<RunRecord[]> {
    return this.#serial(async () => {
      const rows = await this.#rows(
        `SELECT * FROM runs WHERE ($1 IS NULL OR pipeline = $1) AND ($2 IS NULL OR state = $2)
         ORDER BY created_at DESC, scheduled_for DESC, id DESC LIMIT $3`,
        [q.pipeline ?? null, q.state ?? null, BigInt(q.limit ?? 50)],
      );
      return rows.map(rowToRun);
    });
  }

  activeRuns(): Promise<RunRecord[]> {
    return this.#serial(async () =>
      (
        await this.#rows(
          `SELECT * FROM runs WHERE state IN ('queued', 'running') ORDER BY created_at, id`,
        )
      ).map(rowToRun),
    );
  }

  addAttempts(list: NewAttempt[]): Promise<void> {
    if (list.length === 0) return Promise.resolve();
    return this.#serial(async () => {
      // Many rows in one statement: a 10,000-partition backfill is one insert.
      for (let i = 0; i < list.length; i += 1_000) {
        const chunk = list.slice(i, i + 1_000);
        const params: DuckDBValue[] = [];
        const values = chunk.map((a, j) => {
          const v = attemptValues(a);
          params.push(...v.slice(0, 8), n(v[8]), n(v[9]), v[10]);
          const b = j * 11;
          return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, $${b + 9}, NULL, $${b + 10}, 0, 0, $${b + 11}, NULL, NULL, CASE WHEN $${b + 10} IS NULL THEN NULL ELSE nextval('attempt_end_seq') END, NULL)`;
        });
        await this.#exec(
          `INSERT INTO attempts VALUES ${values.join(', ')} ON CONFLICT DO NOTHING`,
          params,
        );
      }
    });
  }

  attempts(runId: string): Promise<AttemptRecord[]> {
    return this.#serial(async () =>
      (
        await this.#rows(
          'SELECT * FROM attempts WHERE run_id = $1 ORDER BY task, partition, attempt',
          [runId],
        )
      ).map(rowToAttempt),
    );
  }

  claim(owner: string, now: number, limits: ClaimLimits): Promise<AttemptRecord[]> {
    if (limits.limit <= 0) return Promise.resolve([]);
    const pipelines = Object.keys(limits.perPipeline);
    // One statement (this connection runs one at a time): the due attempts, oldest first, at most
    // each pipeline's limit less what it already runs.
    return this.#serial(async () =>
      (
        await this.#rows(
          `UPDATE attempts SET state = 'running', owner = $1, started_at = $2, heartbeat_at = $2
           WHERE id IN (
             SELECT c.id FROM (
               SELECT w.id, w.pipeline, w.due_at,
                 row_number() OVER (PARTITION BY w.pipeline ORDER BY w.due_at, w.id) AS rn
               FROM attempts w WHERE w.state IN ('queued', 'retrying') AND w.due_at <= $2) c
             LEFT JOIN (SELECT unnest($3::VARCHAR[]) AS pipeline, unnest($4::BIGINT[]) AS cap) caps
               ON caps.pipeline = c.pipeline
             LEFT JOIN (SELECT pipeline, count(*) AS n FROM attempts WHERE state = 'running' GROUP BY pipeline) run
               ON run.pipeline = c.pipeline
             WHERE c.rn <= coalesce(caps.cap, 9223372036854775807) - coalesce(run.n, 0)
             ORDER BY c.due_at, c.id LIMIT $5)
           AND state IN ('queued', 'retrying') RETURNING *`,
          [
            owner,
            n(now),
            listValue(pipelines.length > 0 ? pipelines : ['']),
            listValue(
              pipelines.length > 0 ? pipelines.map((p) => BigInt(limits.perPipeline[p]!)) : [0n],
            ),
            BigInt(limits.limit),
          ],
        )
      )
        .map(rowToAttempt)
        .sort((a, b) => a.dueAt - b.dueAt || (a.id < b.id ? -1 : 1)),
    );
  }

  finishAttempts(list: readonly { id: string; result: AttemptResult }[]): Promise<string[]> {
    if (list.length === 0) return Promise.resolve([]);
    return this.#serial(async () => {
      const params: DuckDBValue[] = [];
      const values = list.map(({ id, result: r }, j) => {
        const v = resultValues(id, r);
        params.push(v[0], v[1], n(v[2]), n(v[3]), n(v[4]), v[5], n(v[6]));
        const b = j * 7;
        return `($${b + 1}, $${b + 2}, $${b + 3}::BIGINT, $${b + 4}::BIGINT, $${b + 5}::BIGINT, $${b + 6}::VARCHAR, $${b + 7}::BIGINT, ${j})`;
      });
      const rows = await this.#rows(
        `UPDATE attempts SET state = v.state, ended_at = v.ended_at, rows = v.rows, rejects = v.rejects,
           error = v.error, retry_at = v.retry_at, end_seq = nextval('attempt_end_seq')
         FROM (VALUES ${values.join(', ')}) v(id, state, ended_at, rows, rejects, error, retry_at, ord)
         WHERE attempts.id = v.id AND attempts.state = 'running' RETURNING attempts.id`,
        params,
      );
      return rows.map((r) => String(r.id));
    });
  }

  endWaiting(
    runId: string,
    state: 'skipped' | 'cancelled',
    at: number,
    reason: string,
  ): Promise<number> {
    return this.#serial(async () => {
      const rows = await this.#rows(
        `UPDATE attempts SET state = $2, ended_at = $3, error = $4, end_seq = nextval('attempt_end_seq')
         WHERE run_id = $1 AND state IN ('queued', 'retrying') RETURNING id`,
        [runId, state, n(at), reason],
      );
      return rows.length;
    });
  }

  heartbeat(ids: readonly string[], at: number): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.#serial(() =>
      this.#exec(
        `UPDATE attempts SET heartbeat_at = $1 WHERE id IN (SELECT unnest($2)) AND state = 'running'`,
        [n(at), listOf(ids)],
      ),
    );
  }

  failLost(staleBefore: number, at: number, reason: string): Promise<AttemptRecord[]> {
    return this.#serial(async () =>
      (
        await this.#rows(
          `UPDATE attempts SET state = 'failed', ended_at = $2, error = $3, retry_at = $2,
             end_seq = nextval('attempt_end_seq')
           WHERE state = 'running' AND coalesce(heartbeat_at, started_at, 0) < $1 RETURNING *`,
          [n(staleBefore), n(at), reason],
        )
      ).map(rowToAttempt),
    );
  }

  endedSince(seq: number, limit: number): Promise<AttemptRecord[]> {
    return this.#serial(async () =>
      (
        await this.#rows('SELECT * FROM attempts WHERE end_seq > $1 ORDER BY end_seq LIMIT $2', [
          n(seq),
          BigInt(limit),
        ])
      ).map(rowToAttempt),
    );
  }

  lastEndSeq(): Promise<number> {
    return this.#serial(async () => {
      const rows = await this.#rows('SELECT coalesce(max(end_seq), 0) AS s FROM attempts');
      return Number(rows[0]?.s ?? 0);
    });
  }

  appendLogs(lines: readonly LogLine[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return this.#serial(async () => {
      for (let i = 0; i < lines.length; i += 500) {
        const chunk = lines.slice(i, i + 500);
        const params: DuckDBValue[] = [];
        const values = chunk.map((l, j) => {
          params.push(l.runId, l.task, l.partition, l.attempt, n(l.ts), l.level, l.message);
          const b = j * 7;
          return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, nextval('log_seq'))`;
        });
        await this.#exec(`INSERT INTO task_logs VALUES ${values.join(', ')}`, params);
      }
    });
  }

  logs(runId: string, opts: { task?: string; limit?: number } = {}): Promise<LogLine[]> {
    return this.#serial(async () =>
      (
        await this.#rows(
          `SELECT * FROM (SELECT * FROM task_logs WHERE run_id = $1 AND ($2 IS NULL OR task = $2)
             ORDER BY seq DESC LIMIT $3) ORDER BY seq`,
          [runId, opts.task ?? null, BigInt(opts.limit ?? 10_000)],
        )
      ).map(rowToLog),
    );
  }

  recordTick(t: TickRecord): Promise<void> {
    return this.#serial(() =>
      this.#exec(
        `INSERT INTO ticks VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO UPDATE SET
           evaluated_at = excluded.evaluated_at, outcome = excluded.outcome, reason = excluded.reason,
           run_id = excluded.run_id`,
        [t.pipeline, n(t.scheduledFor), n(t.evaluatedAt), t.outcome, t.reason, t.runId],
      ),
    );
  }

  lastTick(pipeline: string): Promise<TickRecord | null> {
    return this.#serial(async () => {
      const rows = await this.#rows(
        'SELECT * FROM ticks WHERE pipeline = $1 ORDER BY scheduled_for DESC LIMIT 1',
        [pipeline],
      );
      return rows[0] ? rowToTick(rows[0]) : null;
    });
  }

  recordAlert(a: AlertRecord): Promise<void> {
    return this.#serial(() =>
      this.#exec(
        'INSERT INTO alerts VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING',
        [a.id, a.rule, a.key, a.state, a.channel, a.outcome, a.subject, a.body, n(a.at), a.error],
      ),
    );
  }

  listAlerts(opts: { limit?: number } = {}): Promise<AlertRecord[]> {
    return this.#serial(async () =>
      (
        await this.#rows('SELECT * FROM alerts ORDER BY sent_at DESC, id DESC LIMIT $1', [
          BigInt(opts.limit ?? 100),
        ])
      ).map(rowToAlert),
    );
  }

  recordAudit(e: AuditEntry): Promise<void> {
    return this.#serial(() =>
      this.#exec(
        'INSERT INTO audit_log VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING',
        [e.id, n(e.at), e.actor, e.action, e.target, e.outcome, e.detail],
      ),
    );
  }

  listAudit(opts: { limit?: number; action?: string } = {}): Promise<AuditEntry[]> {
    return this.#serial(async () =>
      (
        await this.#rows(
          'SELECT * FROM audit_log WHERE $2 IS NULL OR action = $2 ORDER BY recorded_at DESC, id DESC LIMIT $1',
          [BigInt(opts.limit ?? 100), opts.action ?? null],
        )
      ).map(rowToAudit),
    );
  }

  importedFiles(pipeline: string, task: string): Promise<Set<string>> {
    return this.#serial(async () => {
      const rows = await this.#rows(
        'SELECT hash FROM imported_files WHERE pipeline = $1 AND task = $2',
        [pipeline, task],
      );
      return new Set(rows.map((r) => String(r.hash)));
    });
  }

  markImported(
    pipeline: string,
    task: string,
    file: string,
    hash: string,
    at: number,
  ): Promise<void> {
    return this.#serial(() =>
      this.#exec('INSERT INTO imported_files VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING', [
        pipeline,
        task,
        hash,
        file,
        n(at),
      ]),
    );
  }

  unfillable(): Promise<{ symbol: string; interval: string; ts: number; reason: string }[]> {
    return this.#serial(async () =>
      (
        await this.#rows(
          'SELECT symbol, interval, ts, reason FROM unfillable ORDER BY symbol, interval, ts',
        )
      ).map((r) => ({
        symbol: String(r.symbol),
        interval: String(r.interval),
        ts: Number(r.ts),
        reason: String(r.reason),
      })),
    );
  }

  markUnfillable(
    rows: readonly { symbol: string; interval: string; ts: number; reason: string }[],
    at: number,
  ): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return this.#serial(async () => {
      for (const r of rows) {
        await this.#exec(
          `INSERT INTO unfillable VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO UPDATE SET reason = excluded.reason, checked_at = excluded.checked_at`,
          [r.symbol, r.interval, n(r.ts), r.reason, n(at)],
        );
      }
    });
  }

  waiting(now: number): Promise<number> {
    return this.#serial(async () => {
      const rows = await this.#rows(
        `SELECT count(*) AS n FROM attempts WHERE state IN ('queued', 'retrying') AND due_at <= $1`,
        [n(now)],
      );
      return Number(rows[0]?.n ?? 0);
    });
  }

  prune(before: number): Promise<number> {
    return this.#serial(() =>
      this.#tx(async () => {
        const old = `SELECT id FROM runs WHERE ended_at IS NOT NULL AND ended_at < $1`;
        await this.#exec(`DELETE FROM task_logs WHERE run_id IN (${old})`, [n(before)]);
        await this.#exec(`DELETE FROM attempts WHERE run_id IN (${old})`, [n(before)]);
        const gone = await this.#rows(
          'DELETE FROM runs WHERE ended_at IS NOT NULL AND ended_at < $1 RETURNING id',
          [n(before)],
        );
        await this.#exec('DELETE FROM ticks WHERE evaluated_at < $1', [n(before)]);
        await this.#exec('DELETE FROM alerts WHERE sent_at < $1', [n(before)]);
        return gone.length;
      }),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue.catch(() => {});
    try {
      await this.#conn.run('CHECKPOINT');
    } catch {
      // closing anyway
    }
    this.#conn.closeSync();
    this.#instance.closeSync();
  }
}

function listOf(ids: readonly string[]): DuckDBValue {
  return listValue([...ids]);
}
