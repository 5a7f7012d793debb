/**
 * Prometheus metrics (prom-client): per stage records in, stored and
 * quarantined by rule, ingest lag, batch latency, HTTP requests by route and
 * status, WebSocket clients, the live feed's state, the data directory's
 * disk, and the process metrics. Names follow Prometheus' conventions
 * (`_total` on counters only, base units): `promtool check metrics` is clean.
 */
import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { StreamPipeline } from '../pipelines/stream.ts';

/** The states a live feed reports (one series each on `tickline_feed_state`, 1 for the current). */
export const FEED_STATES = [
  'starting',
  'live',
  'reconnecting',
  'stale',
  'market_closed',
  'error',
] as const;

/** What the metrics read from the live feed. */
export interface FeedReading {
  source: string;
  state: (typeof FEED_STATES)[number];
  /** When the last trade arrived (epoch ms), or null. */
  lastTradeAt: number | null;
}

/**
 * prom-client's default gauges that end in `_total` although they are not
 * counters (promtool: 'non-counter metrics should not have "_total" suffix').
 * Each repeats the sum of a gauge it also exports by type
 * (`tickline_nodejs_active_handles{type}` …), so they are left out:
 * `sum(tickline_nodejs_active_handles)` gives the total.
 */
const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** Bytes of the files under a directory (recursively); 0 when it is missing. */
async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) total += await treeBytes(path);
    else if (e.isFile()) total += (await stat(path).catch(() => null))?.size ?? 0;
  }
  return total;
}

export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  readonly httpDuration: Histogram<'route' | 'method'>;
  readonly storeWrite: Histogram;
  readonly wsClients: Gauge;
  /** Pipeline runs that ended, by pipeline and state. */
  readonly runsEnded: Counter<'pipeline' | 'state'>;
  /** Task attempt durations, by pipeline, task and state. */
  readonly taskDuration: Histogram<'pipeline' | 'task' | 'state'>;
  /** Due → started of scheduled runs, seconds. */
  readonly schedulerLag: Histogram<'pipeline'>;
  /** Task attempts waiting for a worker. */
  readonly queueDepth: Gauge;
  /** Alert notifications by channel and outcome (sent, failed, suppressed). */
  readonly alertsSent: Counter<'channel' | 'outcome'>;
  #pipeline: StreamPipeline | null = null;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'tickline_' });
    for (const name of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(`tickline_${name}`);
    this.httpRequests = new Counter({
      name: 'tickline_http_requests_total',
      help: 'HTTP requests by route, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'tickline_http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.storeWrite = new Histogram({
      name: 'tickline_store_write_seconds',
      help: 'Duration of one live-path store write (a batch of trades, bars and quarantined records)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.wsClients = new Gauge({
      name: 'tickline_websocket_clients',
      help: 'Connected WebSocket clients',
      registers,
    });
    this.runsEnded = new Counter({
      name: 'tickline_pipeline_runs_total',
      help: 'Pipeline runs that ended, by pipeline and state (succeeded, failed, cancelled)',
      labelNames: ['pipeline', 'state'],
      registers,
    });
    this.taskDuration = new Histogram({
      name: 'tickline_pipeline_task_duration_seconds',
      help: 'Duration of task attempts, by pipeline, task and state',
      labelNames: ['pipeline', 'task', 'state'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800],
      registers,
    });
    this.schedulerLag = new Histogram({
      name: 'tickline_scheduler_lag_seconds',
      help: 'From a run being due (its schedule time) to it being started',
      labelNames: ['pipeline'],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 900, 3600],
      registers,
    });
    const metrics = this;
    this.queueDepth = new Gauge({
      name: 'tickline_pipeline_queue_depth',
      help: 'Task attempts waiting for a worker (queued or due retries)',
      registers,
      async collect() {
        if (metrics.#queue) this.set(await metrics.#queue().catch(() => 0));
      },
    });
    this.alertsSent = new Counter({
      name: 'tickline_alerts_total',
      help: 'Alert notifications by channel and outcome (sent, failed, suppressed)',
      labelNames: ['channel', 'outcome'],
      registers,
    });
    const self = this;
    new Counter({
      name: 'tickline_stage_records_total',
      help: 'Records per live-path stage and outcome (in, valid, stored, duplicate)',
      labelNames: ['stage', 'outcome'],
      registers,
      collect() {
        const p = self.#pipeline;
        if (!p) return;
        const s = p.stats;
        this.reset();
        this.inc({ stage: 'source', outcome: 'in' }, s.tradesIn);
        this.inc({ stage: 'validate', outcome: 'valid' }, s.tradesValid);
        this.inc({ stage: 'validate', outcome: 'duplicate' }, s.duplicates);
        this.inc({ stage: 'bars', outcome: 'closed' }, s.barsClosed);
        this.inc({ stage: 'bars', outcome: 'corrected' }, s.corrections);
        this.inc({ stage: 'store', outcome: 'stored' }, s.store.tradesStored);
      },
    });
    new Counter({
      name: 'tickline_quarantined_total',
      help: 'Records quarantined by the live path, by rule',
      labelNames: ['rule'],
      registers,
      collect() {
        const p = self.#pipeline;
        if (!p) return;
        this.reset();
        for (const [rule, n] of Object.entries(p.stats.rejectsByRule)) this.inc({ rule }, n);
      },
    });
    new Gauge({
      name: 'tickline_ingest_lag_seconds',
      help: 'Now minus the arrival time of the newest stored trade',
      registers,
      collect() {
        const last = self.#pipeline?.stats.store.lastStoredReceivedAt ?? 0;
        this.set(last ? (Date.now() - last) / 1000 : 0);
      },
    });
    new Gauge({
      name: 'tickline_log_backlog_records',
      help: 'Records still on their way through the log',
      registers,
      async collect() {
        this.set(self.#pipeline ? await self.#pipeline.backlog() : 0);
      },
    });
    new Gauge({
      name: 'tickline_feed_state',
      help: 'The live feed state: 1 on the current state, 0 on the others',
      labelNames: ['feed', 'state'],
      registers,
      collect() {
        const f = self.#feed?.();
        this.reset();
        if (!f) return;
        for (const state of FEED_STATES)
          this.set({ feed: f.source, state }, f.state === state ? 1 : 0);
      },
    });
    new Gauge({
      name: 'tickline_feed_last_trade_timestamp_seconds',
      help: 'When the live feed last brought a trade (Unix time)',
      labelNames: ['feed'],
      registers,
      collect() {
        const f = self.#feed?.();
        this.reset();
        if (f?.lastTradeAt) this.set({ feed: f.source }, f.lastTradeAt / 1000);
      },
    });
    new Gauge({
      name: 'tickline_data_dir_bytes',
      help: 'Bytes of the files under the data directory (database, log, lake)',
      registers,
      async collect() {
        if (self.#dataDir) this.set(await treeBytes(self.#dataDir));
      },
    });
    const fsGauge = (
      name: string,
      help: string,
      pick: (s: { bsize: number; blocks: number; bavail: number }) => number,
    ) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          if (!self.#dataDir) return;
          const s = await statfs(self.#dataDir).catch(() => null);
          if (s) this.set(pick(s));
        },
      });
    fsGauge(
      'tickline_data_dir_filesystem_size_bytes',
      'Size of the filesystem holding the data directory',
      (s) => s.blocks * s.bsize,
    );
    fsGauge(
      'tickline_data_dir_filesystem_avail_bytes',
      'Bytes free for tickline on the filesystem holding the data directory',
      (s) => s.bavail * s.bsize,
    );
  }

  /** Reports the live feed: its state and when it last brought a trade. */
  watchFeed(read: () => FeedReading | null): void {
    this.#feed = read;
  }

  #feed: (() => FeedReading | null) | null = null;

  /** Reports the data directory: the bytes under it and its filesystem's size and free space. */
  watchDataDir(dir: string): void {
    this.#dataDir = dir;
  }

  #dataDir: string | null = null;

  /** Where the pipeline queue's depth is read from. */
  watchQueue(depth: () => Promise<number>): void {
    this.#queue = depth;
  }

  #queue: (() => Promise<number>) | null = null;

  /** Starts reporting the stages of this pipeline. */
  watch(pipeline: StreamPipeline): void {
    this.#pipeline = pipeline;
  }
}
