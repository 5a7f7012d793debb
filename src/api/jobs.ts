/**
 * Background jobs started over the API (backfills): each runs the same
 * ingest pipeline as the CLI, with its progress kept for `GET /api/jobs/{id}`.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../core/config.ts';
import { errorMessage } from '../core/errors.ts';
import type { Interval } from '../core/time.ts';
import { ingest } from '../pipelines/ingest.ts';
import type { Source } from '../sources/source.ts';
import { StooqSource } from '../sources/stooq/stooq-source.ts';
import { YahooSource } from '../sources/yahoo/yahoo-source.ts';
import type { Store } from '../store/store.ts';

export interface BackfillParams {
  source: 'yahoo' | 'stooq';
  symbols: string[];
  interval: Interval;
  from: number;
  to: number;
}

export interface Job {
  id: string;
  kind: 'backfill';
  state: 'running' | 'done' | 'failed';
  params: BackfillParams;
  progress: { done: number; total: number; rows: number; rejects: number; errors: number };
  /** Per-symbol errors (a failing symbol does not stop the others). */
  errors: { symbol: string; message: string }[];
  startedAt: number;
  endedAt: number | null;
  error: string | null;
}

export class JobRunner {
  readonly #jobs = new Map<string, Job>();
  readonly #store: Store;
  readonly #cfg: Config;
  readonly #running = new Set<Promise<void>>();

  constructor(store: Store, cfg: Config) {
    this.#store = store;
    this.#cfg = cfg;
  }

  get(id: string): Job | null {
    return this.#jobs.get(id) ?? null;
  }

  startBackfill(params: BackfillParams): Job {
    const job: Job = {
      id: randomUUID(),
      kind: 'backfill',
      state: 'running',
      params,
      progress: { done: 0, total: params.symbols.length, rows: 0, rejects: 0, errors: 0 },
      errors: [],
      startedAt: Date.now(),
      endedAt: null,
      error: null,
    };
    this.#jobs.set(job.id, job);
    const cfg = this.#cfg;
    const source: Source =
      params.source === 'yahoo'
        ? new YahooSource({ baseUrl: cfg.sources.yahoo.baseUrl, retry: cfg.http })
        : new StooqSource({ baseUrl: cfg.sources.stooq.baseUrl, retry: cfg.http });
    const run = (async () => {
      try {
        const summary = await ingest(
          params.symbols.map((symbol) => ({
            source,
            request: { symbol, interval: params.interval, from: params.from, to: params.to },
          })),
          {
            store: this.#store,
            quality: cfg.quality,
            onProgress: (p) => {
              job.progress = {
                done: p.symbolsDone,
                total: p.symbolsTotal,
                rows: p.rows,
                rejects: p.rejects,
                errors: p.failed,
              };
            },
          },
        );
        job.errors = summary.failed.map((f) => ({ symbol: f.symbol, message: f.error ?? '' }));
        job.progress = {
          done: params.symbols.length,
          total: params.symbols.length,
          rows: summary.rows,
          rejects: summary.rejects,
          errors: summary.failed.length,
        };
        job.state = 'done';
      } catch (err) {
        job.state = 'failed';
        job.error = errorMessage(err);
      } finally {
        job.endedAt = Date.now();
      }
    })();
    this.#running.add(run);
    void run.finally(() => this.#running.delete(run));
    return job;
  }

  /** Waits for running jobs (server shutdown). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#running]);
  }
}
