/**
 * The run store in PostgreSQL, for a leader and workers on several machines:
 * workers claim attempts with FOR UPDATE SKIP LOCKED (claims are serialized
 * by an advisory lock so per-pipeline limits hold across workers), attempts
 * get their end order under a second advisory lock so the leader reading
 * `end_seq > cursor` never misses one that committed late, and a lease row
 * elects one leader. Schema changes are versioned migrations.
 */
import pg from 'pg';
import { StoreError } from '../../core/errors.ts';
import {
  attemptValues,
  chooseClaims,
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

/** Versioned migrations: each runs once, in order, in one transaction with its version row. */
const MIGRATIONS: { version: number; name: string; sql: string[] }[] = [
  {
    version: 1,
    name: 'runs, attempts, logs, ticks, alerts, imports, leases',
    sql: [
      `CREATE TABLE runs (
        id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, trigger TEXT NOT NULL, state TEXT NOT NULL,
        scheduled_for BIGINT NOT NULL, created_at BIGINT NOT NULL, started_at BIGINT, ended_at BIGINT,
        params TEXT NOT NULL, rows BIGINT NOT NULL DEFAULT 0, rejects BIGINT NOT NULL DEFAULT 0, error TEXT)`,
      "CREATE INDEX runs_active ON runs (state) WHERE state IN ('queued', 'running')",
      'CREATE INDEX runs_pipeline ON runs (pipeline, created_at DESC)',
      `CREATE TABLE attempts (
        id TEXT PRIMARY KEY, run_id TEXT NOT NULL, pipeline TEXT NOT NULL, task TEXT NOT NULL,
        partition TEXT NOT NULL, attempt INTEGER NOT NULL, trigger TEXT NOT NULL, state TEXT NOT NULL,
        due_at BIGINT NOT NULL, started_at BIGINT, ended_at BIGINT, rows BIGINT NOT NULL DEFAULT 0,
        rejects BIGINT NOT NULL DEFAULT 0, error TEXT, owner TEXT, heartbeat_at BIGINT, end_seq BIGINT,
        retry_at BIGINT)`,
      'CREATE INDEX attempts_run ON attempts (run_id)',
      "CREATE INDEX attempts_waiting ON attempts (due_at) WHERE state IN ('queued', 'retrying')",
      "CREATE INDEX attempts_running ON attempts (pipeline) WHERE state = 'running'",
      'CREATE UNIQUE INDEX attempts_end ON attempts (end_seq) WHERE end_seq IS NOT NULL',
      'CREATE SEQUENCE attempt_end_seq',
      `CREATE TABLE task_logs (
        seq BIGSERIAL PRIMARY KEY, run_id TEXT NOT NULL, task TEXT NOT NULL, partition TEXT NOT NULL,
        attempt INTEGER NOT NULL, ts BIGINT NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL)`,
      'CREATE INDEX task_logs_run ON task_logs (run_id, seq)',
      `CREATE TABLE ticks (
        pipeline TEXT NOT NULL, scheduled_for BIGINT NOT NULL, evaluated_at BIGINT NOT NULL,
        outcome TEXT NOT NULL, reason TEXT, run_id TEXT, PRIMARY KEY (pipeline, scheduled_for))`,
      `CREATE TABLE alerts (
        id TEXT PRIMARY KEY, rule TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL, channel TEXT NOT NULL,
        outcome TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL, sent_at BIGINT NOT NULL, error TEXT)`,
      `CREATE TABLE imported_files (
        pipeline TEXT NOT NULL, task TEXT NOT NULL, hash TEXT NOT NULL, file TEXT NOT NULL,
        imported_at BIGINT NOT NULL, PRIMARY KEY (pipeline, task, hash))`,
      `CREATE TABLE unfillable (
        symbol TEXT NOT NULL, interval TEXT NOT NULL, ts BIGINT NOT NULL, reason TEXT NOT NULL,
        checked_at BIGINT NOT NULL, PRIMARY KEY (symbol, interval, ts))`,
      'CREATE TABLE leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at BIGINT NOT NULL)',
    ],
  },
  {
    version: 2,
    name: 'audit log of admin actions',
    sql: [
      `CREATE TABLE audit_log (
        id TEXT PRIMARY KEY, recorded_at BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
        target TEXT, outcome TEXT NOT NULL, detail TEXT)`,
      'CREATE INDEX audit_log_at ON audit_log (recorded_at DESC)',
    ],
  },
];

const CLAIM_LOCK = 7_310_001;
const END_LOCK = 7_310_002;
/** The database's clock, ms: leases are judged by one clock, not each machine's. */
const DB_NOW = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

export class PgRunStore implements RunStore {
  readonly kind = 'postgres';
  readonly #pool: pg.Pool;
  readonly #schema: string;

  private constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#schema = schema;
  }

  /** Connects, creates the schema if needed and applies the migrations not yet applied. */
  static async open(
    url: string,
    opts: { schema?: string; max?: number } = {},
  ): Promise<PgRunStore> {
    const schema = opts.schema ?? 'tickline_pipelines';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
      throw new Error(`pipelines schema "${schema}": lower-case letters, digits and _`);
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.max ?? 8,
      options: `-c search_path=${schema}`,
    });
    pool.on('error', () => {});
    const store = new PgRunStore(pool, schema);
    try {
      await store.#migrate();
    } catch (err) {
      await pool.end();
      throw new StoreError(
        `cannot open the run history in PostgreSQL: ${(err as Error).message}`,
        'migrate',
        [],
        err,
      );
    }
    return store;
  }

  async #migrate(): Promise<void> {
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      await c.query(`SELECT pg_advisory_xact_lock(${CLAIM_LOCK - 1})`);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${this.#schema}`);
      await c.query(
        `CREATE TABLE IF NOT EXISTS ${this.#schema}.schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
      );
      const done = new Set(
        (await c.query(`SELECT version FROM ${this.#schema}.schema_migrations`)).rows.map((r) =>
          Number(r.version),
        ),
      );
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        for (const sql of m.sql) await c.query(sql);
        await c.query(
          `INSERT INTO ${this.#schema}.schema_migrations (version, name) VALUES ($1, $2)`,
          [m.version, m.name],
        );
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  async #rows(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    try {
      return (await this.#pool.query(sql, params)).rows as Record<string, unknown>[];
    } catch (err) {
      throw new StoreError(`run history: ${(err as Error).message}`, sql, params, err);
    }
  }

  async #tx<T>(
    fn: (q: (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>) => Promise<T>,
  ): Promise<T> {
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(async (sql, params = []) => {
        try {
          return (await c.query(sql, params)).rows as Record<string, unknown>[];
        } catch (err) {
          throw new StoreError(`run history: ${(err as Error).message}`, sql, params, err);
        }
      });
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  async createRun(r: RunRecord): Promise<void> {
    await this.#rows(
      'INSERT INTO runs VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING',
      [
        r.id,
        r.pipeline,
        r.trigger,
        r.state,
        r.scheduledFor,
        r.createdAt,
        r.startedAt,
        r.endedAt,
        JSON.stringify(r.params),
        r.rows,
        r.rejects,
        r.error,
      ],
    );
  }

  async setRunState(
    id: string,
    state: RunState,
    at: number,
    extra: { rows?: number; rejects?: number; error?: string | null } = {},
  ): Promise<boolean> {
    const ended = state === 'succeeded' || state === 'failed' || state === 'cancelled';
    const rows = await this.#rows(
      `UPDATE runs SET state = $2,
         started_at = CASE WHEN $2 = 'running' AND started_at IS NULL THEN $3::bigint ELSE started_at END,
         ended_at = CASE WHEN $4 THEN $3::bigint ELSE NULL END,
         rows = coalesce($5::bigint, rows), rejects = coalesce($6::bigint, rejects),
         error = CASE WHEN $7 THEN $8 ELSE error END
       WHERE id = $1 AND (state NOT IN ('succeeded', 'failed', 'cancelled') OR $2 IN ('queued', 'running'))
       RETURNING id`,
      [
        id,
        state,
        at,
        ended,
        extra.rows ?? null,
        extra.rejects ?? null,
        extra.error !== undefined,
        extra.error ?? null,
      ],
    );
    return rows.length > 0;
  }

  async getRun(id: string): Promise<RunRecord | null> {
    const rows = await this.#rows('SELECT * FROM runs WHERE id = $1', [id]);
    return rows[0] ? rowToRun(rows[0]) : null;
  }

  async listRuns(q: RunQuery): Promise<RunRecord[]> {
    const rows = await this.#rows(
      `SELECT * FROM runs WHERE ($1::text IS NULL OR pipeline = $1) AND ($2::text IS NULL OR state = $2)
       ORDER BY created_at DESC, scheduled_for DESC, id DESC LIMIT $3`,
      [q.pipeline ?? null, q.state ?? null, q.limit ?? 50],
    );
    return rows.map(rowToRun);
  }

  async activeRuns(): Promise<RunRecord[]> {
    return (
      await this.#rows(
        `SELECT * FROM runs WHERE state IN ('queued', 'running') ORDER BY created_at, id`,
      )
    ).map(rowToRun);
  }

  async addAttempts(list: NewAttempt[]): Promise<void> {
    if (list.length === 0) return;
    const ended = list.some((a) => a.endedAt !== undefined && a.endedAt !== null);
    await this.#tx(async (q) => {
      if (ended) await q(`SELECT pg_advisory_xact_lock(${END_LOCK})`);
      for (let i = 0; i < list.length; i += 1_000) {
        const chunk = list.slice(i, i + 1_000);
        const params: unknown[] = [];
        const values = chunk.map((a, j) => {
          params.push(...attemptValues(a));
          const b = j * 11;
          return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, $${b + 9}::bigint, NULL, $${b + 10}::bigint, 0, 0, $${b + 11}, NULL, NULL, CASE WHEN $${b + 10}::bigint IS NULL THEN NULL ELSE nextval('attempt_end_seq') END, NULL)`;
        });
        await q(`INSERT INTO attempts VALUES ${values.join(', ')} ON CONFLICT DO NOTHING`, params);
      }
    });
  }

  async attempts(runId: string): Promise<AttemptRecord[]> {
    return (
      await this.#rows(
        'SELECT * FROM attempts WHERE run_id = $1 ORDER BY task, partition, attempt',
        [runId],
      )
    ).map(rowToAttempt);
  }

  async claim(owner: string, now: number, limits: ClaimLimits): Promise<AttemptRecord[]> {
    if (limits.limit <= 0) return [];
    return this.#tx(async (q) => {
      await q(`SELECT pg_advisory_xact_lock(${CLAIM_LOCK})`);
      const running = await q(
        `SELECT pipeline, count(*) AS n FROM attempts WHERE state = 'running' GROUP BY pipeline`,
      );
      const candidates = await q(
        `SELECT id, pipeline FROM attempts WHERE state IN ('queued', 'retrying') AND due_at <= $1
         ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [now, limits.limit * 8 + 64],
      );
      const chosen = chooseClaims(candidates, running, limits);
      if (chosen.length === 0) return [];
      const rows = await q(
        `UPDATE attempts SET state = 'running', owner = $1, started_at = $2, heartbeat_at = $2
         WHERE id = ANY($3::text[]) AND state IN ('queued', 'retrying') RETURNING *`,
        [owner, now, chosen],
      );
      return rows.map(rowToAttempt);
    });
  }

  async finishAttempts(list: readonly { id: string; result: AttemptResult }[]): Promise<string[]> {
    if (list.length === 0) return [];
    return this.#tx(async (q) => {
      await q(`SELECT pg_advisory_xact_lock(${END_LOCK})`);
      const params: unknown[] = [];
      const values = list.map(({ id, result: r }, j) => {
        params.push(...resultValues(id, r));
        const b = j * 7;
        return `($${b + 1}::text, $${b + 2}::text, $${b + 3}::bigint, $${b + 4}::bigint, $${b + 5}::bigint, $${b + 6}::text, $${b + 7}::bigint, ${j})`;
      });
      // In list order, so end order follows the order the attempts ended.
      const rows = await q(
        `UPDATE attempts a SET state = v.state, ended_at = v.ended_at, rows = v.rows, rejects = v.rejects,
           error = v.error, retry_at = v.retry_at, end_seq = nextval('attempt_end_seq')
         FROM (SELECT * FROM (VALUES ${values.join(', ')}) x(id, state, ended_at, rows, rejects, error, retry_at, ord) ORDER BY ord) v
         WHERE a.id = v.id AND a.state = 'running' RETURNING a.id`,
        params,
      );
      return rows.map((r) => String(r.id));
    });
  }

  async endWaiting(
    runId: string,
    state: 'skipped' | 'cancelled',
    at: number,
    reason: string,
  ): Promise<number> {
    return this.#tx(async (q) => {
      await q(`SELECT pg_advisory_xact_lock(${END_LOCK})`);
      const rows = await q(
        `UPDATE attempts SET state = $2, ended_at = $3, error = $4, end_seq = nextval('attempt_end_seq')
         WHERE run_id = $1 AND state IN ('queued', 'retrying') RETURNING id`,
        [runId, state, at, reason],
      );
      return rows.length;
    });
  }

  async heartbeat(ids: readonly string[], at: number): Promise<void> {
    if (ids.length === 0) return;
    await this.#rows(
      `UPDATE attempts SET heartbeat_at = $1 WHERE id = ANY($2::text[]) AND state = 'running'`,
      [at, [...ids]],
    );
  }

  async failLost(staleBefore: number, at: number, reason: string): Promise<AttemptRecord[]> {
    return this.#tx(async (q) => {
      await q(`SELECT pg_advisory_xact_lock(${END_LOCK})`);
      const rows = await q(
        `UPDATE attempts SET state = 'failed', ended_at = $2, error = $3, retry_at = $2,
           end_seq = nextval('attempt_end_seq')
         WHERE state = 'running' AND coalesce(heartbeat_at, started_at, 0) < $1 RETURNING *`,
        [staleBefore, at, reason],
      );
      return rows.map(rowToAttempt);
    });
  }

  async endedSince(seq: number, limit: number): Promise<AttemptRecord[]> {
    return (
      await this.#rows('SELECT * FROM attempts WHERE end_seq > $1 ORDER BY end_seq LIMIT $2', [
        seq,
        limit,
      ])
    ).map(rowToAttempt);
  }

  async lastEndSeq(): Promise<number> {
    const rows = await this.#rows('SELECT coalesce(max(end_seq), 0) AS s FROM attempts');
    return Number(rows[0]?.s ?? 0);
  }

  async appendLogs(lines: readonly LogLine[]): Promise<void> {
    for (let i = 0; i < lines.length; i += 500) {
      const chunk = lines.slice(i, i + 500);
      const params: unknown[] = [];
      const values = chunk.map((l, j) => {
        params.push(l.runId, l.task, l.partition, l.attempt, l.ts, l.level, l.message);
        const b = j * 7;
        return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7})`;
      });
      await this.#rows(
        `INSERT INTO task_logs (run_id, task, partition, attempt, ts, level, message) VALUES ${values.join(', ')}`,
        params,
      );
    }
  }

  async logs(runId: string, opts: { task?: string; limit?: number } = {}): Promise<LogLine[]> {
    return (
      await this.#rows(
        `SELECT * FROM (SELECT * FROM task_logs WHERE run_id = $1 AND ($2::text IS NULL OR task = $2)
           ORDER BY seq DESC LIMIT $3) x ORDER BY seq`,
        [runId, opts.task ?? null, opts.limit ?? 10_000],
      )
    ).map(rowToLog);
  }

  async recordTick(t: TickRecord): Promise<void> {
    await this.#rows(
      `INSERT INTO ticks VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (pipeline, scheduled_for) DO UPDATE SET
         evaluated_at = excluded.evaluated_at, outcome = excluded.outcome, reason = excluded.reason, run_id = excluded.run_id`,
      [t.pipeline, t.scheduledFor, t.evaluatedAt, t.outcome, t.reason, t.runId],
    );
  }

  async lastTick(pipeline: string): Promise<TickRecord | null> {
    const rows = await this.#rows(
      'SELECT * FROM ticks WHERE pipeline = $1 ORDER BY scheduled_for DESC LIMIT 1',
      [pipeline],
    );
    return rows[0] ? rowToTick(rows[0]) : null;
  }

  async recordAlert(a: AlertRecord): Promise<void> {
    await this.#rows(
      'INSERT INTO alerts VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING',
      [a.id, a.rule, a.key, a.state, a.channel, a.outcome, a.subject, a.body, a.at, a.error],
    );
  }

  async listAlerts(opts: { limit?: number } = {}): Promise<AlertRecord[]> {
    return (
      await this.#rows('SELECT * FROM alerts ORDER BY sent_at DESC, id DESC LIMIT $1', [
        opts.limit ?? 100,
      ])
    ).map(rowToAlert);
  }

  async recordAudit(e: AuditEntry): Promise<void> {
    await this.#rows(
      'INSERT INTO audit_log VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING',
      [e.id, e.at, e.actor, e.action, e.target, e.outcome, e.detail],
    );
  }

  async listAudit(opts: { limit?: number; action?: string } = {}): Promise<AuditEntry[]> {
    return (
      await this.#rows(
        'SELECT * FROM audit_log WHERE $2::text IS NULL OR action = $2 ORDER BY recorded_at DESC, id DESC LIMIT $1',
        [opts.limit ?? 100, opts.action ?? null],
      )
    ).map(rowToAudit);
  }

  async importedFiles(pipeline: string, task: string): Promise<Set<string>> {
    const rows = await this.#rows(
      'SELECT hash FROM imported_files WHERE pipeline = $1 AND task = $2',
      [pipeline, task],
    );
    return new Set(rows.map((r) => String(r.hash)));
  }

  async markImported(
    pipeline: string,
    task: string,
    file: string,
    hash: string,
    at: number,
  ): Promise<void> {
    await this.#rows(
      'INSERT INTO imported_files VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
      [pipeline, task, hash, file, at],
    );
  }

  async unfillable(): Promise<{ symbol: string; interval: string; ts: number; reason: string }[]> {
    return (
      await this.#rows(
        'SELECT symbol, interval, ts, reason FROM unfillable ORDER BY symbol, interval, ts',
      )
    ).map((r) => ({
      symbol: String(r.symbol),
      interval: String(r.interval),
      ts: Number(r.ts),
      reason: String(r.reason),
    }));
  }

  async markUnfillable(
    rows: readonly { symbol: string; interval: string; ts: number; reason: string }[],
    at: number,
  ): Promise<void> {
    for (const r of rows) {
      await this.#rows(
        `INSERT INTO unfillable VALUES ($1, $2, $3, $4, $5) ON CONFLICT (symbol, interval, ts) DO UPDATE SET reason = excluded.reason, checked_at = excluded.checked_at`,
        [r.symbol, r.interval, r.ts, r.reason, at],
      );
    }
  }

  async waiting(now: number): Promise<number> {
    const rows = await this.#rows(
      `SELECT count(*) AS n FROM attempts WHERE state IN ('queued', 'retrying') AND due_at <= $1`,
      [now],
    );
    return Number(rows[0]?.n ?? 0);
  }

  async prune(before: number): Promise<number> {
    return this.#tx(async (q) => {
      const old = 'SELECT id FROM runs WHERE ended_at IS NOT NULL AND ended_at < $1';
      await q(`DELETE FROM task_logs WHERE run_id IN (${old})`, [before]);
      await q(`DELETE FROM attempts WHERE run_id IN (${old})`, [before]);
      const gone = await q(
        'DELETE FROM runs WHERE ended_at IS NOT NULL AND ended_at < $1 RETURNING id',
        [before],
      );
      await q('DELETE FROM ticks WHERE evaluated_at < $1', [before]);
      await q('DELETE FROM alerts WHERE sent_at < $1', [before]);
      return gone.length;
    });
  }

  /**
   * Takes or renews the lease `name` for `owner` for `ttlMs` (by the
   * database's clock); true while `owner` holds it.
   */
  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const rows = await this.#rows(
      `INSERT INTO leases VALUES ($1, $2, ${DB_NOW} + $3::bigint)
       ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
         WHERE leases.owner = excluded.owner OR leases.expires_at < ${DB_NOW}
       RETURNING owner`,
      [name, owner, ttlMs],
    );
    return rows.length > 0 && rows[0]!.owner === owner;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.#rows('DELETE FROM leases WHERE name = $1 AND owner = $2', [name, owner]);
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
