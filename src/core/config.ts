/**
 * Configuration: `tickline.config.yaml` (or .yml / .json) validated with zod,
 * then environment overrides. Every error names the path of the bad field and
 * what was expected. Secrets never live here: they come from the environment.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import {
  AlertsSchema,
  PipelineSchema,
  type PipelineSpec,
  PipelinesSectionSchema,
  pipelinesOf,
} from './pipeline-schema.ts';

/** Public provider hosts; tests and air-gapped users point these at a local server. */
export const YAHOO_DEFAULT_URL = 'https://query1.finance.yahoo.com';
export const STOOQ_DEFAULT_URL = 'https://stooq.com';
export const FINNHUB_DEFAULT_WS_URL = 'wss://ws.finnhub.io';
export const FINNHUB_DEFAULT_URL = 'https://finnhub.io/api/v1';

const url = z.url({ protocol: /^https?$/ });
const wsUrl = z.url({ protocol: /^wss?$/ });
/** A byte size as DuckDB takes it. */
const size = z
  .string()
  .regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'a size such as 512MB or 2GB');
const ms = z.number().int().min(0);
/** A trading calendar's name. */
const calendarName = z.enum(['XNYS', 'XLON', 'XETR', '24/7']);

/** The `store` section: which store, where, and its settings. */
export const StoreSettingsSchema = z
  .object({
    /**
     * Which store: the embedded DuckDB file in the data folder (default), PostgreSQL, or
     * Apache Cassandra. `url` (or `--store`, or TICKLINE_STORE_URL) says where; its scheme
     * sets the kind.
     */
    kind: z.enum(['duckdb', 'postgres', 'cassandra']).default('duckdb'),
    /**
     * postgres://user@host:port/db[?sslmode=verify-full&sslrootcert=ca.pem],
     * cassandra://host:port[,host:port]/keyspace, or duckdb:///path/file.duckdb.
     */
    url: z.string().nullable().default(null),
    postgres: z
      .object({
        /** Connections in the pool. */
        poolSize: z.number().int().min(1).max(200).default(8),
        /** Months of bar and trade partitions created ahead of the newest write. */
        partitionsAhead: z.number().int().min(0).max(24).default(2),
      })
      .strict()
      .prefault({}),
    cassandra: z
      .object({
        /** The local data centre the driver routes to. */
        localDataCenter: z.string().default('datacenter1'),
        /** Replication of a keyspace tickline creates (SimpleStrategy, one replica by default). */
        replication: z
          .record(z.string(), z.union([z.string(), z.number()]))
          .default({ class: 'SimpleStrategy', replication_factor: 1 }),
        /** Statements in flight at once per write. */
        concurrency: z.number().int().min(1).max(1024).default(64),
      })
      .strict()
      .prefault({}),
    /** DuckDB's memory limit (e.g. '512MB'); unset = DuckDB's default, 80 % of RAM. */
    memoryLimit: size.nullable().default(null),
    /**
     * Write-ahead log size at which DuckDB checkpoints (writes the tables' new rows to the
     * file). Rows not checkpointed yet are held in memory, so this bounds what a live
     * process holds of them; a larger value checkpoints less often.
     */
    checkpointThreshold: size.default('64MB'),
    /**
     * Where DuckDB loads its extensions from, offline (nothing is downloaded). Encryption at
     * rest (TICKLINE_STORE_KEY) needs httpfs from here: DuckDB writes encrypted files only
     * with httpfs's OpenSSL loaded. Laid out as DuckDB's own:
     * <dir>/v<duckdb version>/<platform>/httpfs.duckdb_extension.
     */
    extensionDirectory: z.string().min(1).nullable().default(null),
    /** Bytes of bar query results kept in memory (dropped when their series is written); 0 = none. */
    queryCacheMB: z.number().min(0).max(65_536).default(128),
  })
  .strict();

export const ConfigSchema = z
  .object({
    /** Folder of the DuckDB file and other local state. */
    dataDir: z.string().min(1).default('./tickline-data'),
    sources: z
      .object({
        yahoo: z
          .object({ baseUrl: url.default(YAHOO_DEFAULT_URL) })
          .strict()
          .prefault({}),
        stooq: z
          .object({ baseUrl: url.default(STOOQ_DEFAULT_URL) })
          .strict()
          .prefault({}),
        finnhub: z
          .object({
            /** The trade WebSocket; the token (FINNHUB_TOKEN) is added as `?token=`. */
            wsUrl: wsUrl.default(FINNHUB_DEFAULT_WS_URL),
            /** The REST API, for candles that fill a gap after a reconnect. */
            restUrl: url.default(FINNHUB_DEFAULT_URL),
            /** A feed with no trade for this long while the market is open is reported stale. */
            staleAfterMs: ms.default(60_000),
            /**
             * When a silent feed counts as stale: 'calendar' while any subscribed symbol's
             * exchange is open (its trading calendar: holidays, early closes); 'always'
             * (crypto). 'us-equities' is the former name of 'calendar'.
             */
            marketHours: z.enum(['calendar', 'us-equities', 'always']).default('calendar'),
            /** Fill the gap after a reconnect with 1m candles from the REST API. */
            gapFill: z.boolean().default(true),
            /** Reconnect backoff: first delay and cap, ms (exponential, with jitter). */
            reconnectBaseMs: z.number().int().min(10).default(500),
            reconnectMaxMs: z.number().int().min(10).default(30_000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    http: z
      .object({
        attempts: z.number().int().min(1).max(20).default(5),
        baseDelayMs: z.number().int().min(0).default(500),
        maxDelayMs: z.number().int().min(0).default(30_000),
        timeoutMs: z.number().int().min(100).default(30_000),
      })
      .strict()
      .prefault({}),
    quality: z
      .object({
        /** Price-jump band as a fraction (1 = a doubling or halving); 0 turns it off. */
        maxJump: z.number().min(0).default(1),
        /** Allowed clock skew for future timestamps, ms. */
        futureSkewMs: z.number().int().min(0).default(60_000),
      })
      .strict()
      .prefault({}),
    api: z
      .object({
        /** Requests per minute per API key (or per client address without one). */
        rateLimitPerMinute: z.number().int().min(1).default(600),
        /** Failed authentications (bad, unknown or revoked keys) per client address per minute before 429. */
        authFailuresPerMinute: z.number().int().min(1).default(30),
        /**
         * HTTPS (and WSS) for the API, dashboard and /metrics: PEM files of the certificate
         * (with its chain) and the private key. Unset: plain HTTP.
         */
        tls: z
          .object({
            cert: z.string().min(1).describe('the certificate chain, PEM'),
            key: z.string().min(1).describe('the private key, PEM'),
          })
          .strict()
          .nullable()
          .default(null),
      })
      .strict()
      .prefault({}),
    store: StoreSettingsSchema.prefault({}),
    live: z
      .object({
        /** Bar intervals built from trades. */
        intervals: z
          .array(z.enum(['1s', '1m', '5m', '15m', '30m', '1h']))
          .min(1)
          .default(['1s', '1m', '5m']),
        /** How late (event time behind the newest trade of its symbol) a trade may arrive. */
        allowedLatenessMs: ms.default(2_000),
        /** The store is written at least this often. */
        flushMs: z.number().int().min(10).max(60_000).default(250),
        /** Exact duplicates are recognised this far back in event time. */
        dedupWindowMs: ms.default(10_000),
        /** price_outlier: the rolling median of the last `window` trades, ± `band` (a fraction). */
        outlier: z
          .object({
            window: z.number().int().min(3).max(10_000).default(50),
            band: z.number().positive().default(0.1),
            /** Trades needed in the window before the rule applies. */
            minSamples: z.number().int().min(1).default(10),
          })
          .strict()
          .prefault({}),
        /**
         * Queue bound per log partition, in records, counted over a topic's partitions together
         * (one busy symbol gets the room of all): a slower stage slows its producer.
         */
        queueRecords: z.number().int().min(1_000).default(16_384),
        /**
         * Over Kafka: how often the process stage checkpoints its state and
         * commits (what a worker redoes after a crash is at most this much).
         */
        checkpointMs: z.number().int().min(50).max(600_000).default(1_000),
        /**
         * How far (percent) the JavaScript heap may grow past what survived its last full
         * collection while the live path runs (see src/core/heap.ts); 0 = V8's own choice
         * (up to 300 %). 30 takes ~150 MB off a busy live path's peak RSS, at a cost in
         * throughput that grows with the garbage made (10 % flat out; a quarter of the
         * ingest rate with 200 WebSocket clients): for machines short of memory.
         */
        heapGrowthPercent: z.number().int().min(0).max(300).default(0),
        /**
         * Read and parse a replay on a worker thread (the other core), which hands its trades
         * over as columns; false does it on the thread that validates, aggregates and stores.
         */
        threads: z.boolean().default(true),
        /**
         * After a stop (SIGINT/SIGTERM, --duration, a feed that ended), how long the
         * path may take to store what it received; past it the process stores what
         * it holds, says what was left and ends anyway.
         */
        drainTimeoutMs: z.number().int().min(100).max(3_600_000).default(30_000),
      })
      .strict()
      .prefault({}),
    /**
     * Pipelines by name (a schedule, a calendar, a DAG of tasks), beside the runner's
     * settings (runner, postgresUrl, concurrency, retentionDays, leaseMs, pollMs).
     * Without this section: one daily pipeline that curates and exports the lake.
     */
    pipelines: PipelinesSectionSchema.prefault({}),
    /** Alert channels (email, webhook) and the rules that notify them. */
    alerts: AlertsSchema.prefault({}),
    /** Which trading calendar a symbol follows (schedules, gaps, freshness, staleness). */
    calendars: z
      .object({
        default: calendarName.default('XNYS'),
        /** Symbol prefix → calendar; the longest match wins. */
        prefixes: z.record(z.string().min(1), calendarName).default({
          'BINANCE:': '24/7',
          'COINBASE:': '24/7',
          'KRAKEN:': '24/7',
          'BITSTAMP:': '24/7',
        }),
        /** Symbol suffix → calendar; the longest match wins. */
        suffixes: z
          .record(z.string().min(1), calendarName)
          .default({ '.L': 'XLON', '.DE': 'XETR', '.F': 'XETR' }),
      })
      .strict()
      .prefault({}),
    /** Per-symbol facts: the calendar it trades on (over any prefix or suffix rule). */
    instruments: z
      .record(
        z.string().min(1),
        z
          .object({
            calendar: calendarName.optional(),
            name: z.string().optional(),
            currency: z.string().optional(),
          })
          .strict(),
      )
      .default({}),
    /** The log between the live path's stages: in-process, or Apache Kafka for workers. */
    log: z
      .object({
        kind: z.enum(['memory', 'kafka']).default('memory'),
        /** Bootstrap brokers, host:port (env TICKLINE_KAFKA_BROKERS, comma-separated). */
        brokers: z
          .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'host:port'))
          .min(1)
          .default(['127.0.0.1:9092']),
        clientId: z.string().min(1).default('tickline'),
        /**
         * Prefixed to every topic and consumer group (env TICKLINE_KAFKA_NAMESPACE), so
         * several pipelines share one cluster without seeing each other.
         */
        namespace: z
          .string()
          .regex(/^[A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" or "-"')
          .default(''),
        /** Partitions and replication factor of topics tickline creates. */
        partitions: z.number().int().min(1).max(10_000).default(6),
        replication: z.number().int().min(1).max(32).default(1),
        compression: z.enum(['none', 'gzip', 'snappy', 'lz4']).default('lz4'),
        /**
         * How records are written: JSON, or Avro (single-object encoding: the writer
         * schema's fingerprint, then the record; schemas generated from core/records.ts).
         */
        encoding: z.enum(['json', 'avro']).default('json'),
        /**
         * Kafka transactions: every topic holds each record once for its (read-committed)
         * consumers through crashes, rebalances and broker restarts; the process stage
         * commits its outputs with its offsets and checkpoint. false: at-least-once (a
         * crash or an outage can leave records twice in a topic; the store stays exact).
         */
        exactlyOnce: z.boolean().default(true),
        sessionTimeoutMs: z.number().int().min(1_000).default(10_000),
        heartbeatIntervalMs: z.number().int().min(100).default(1_000),
        /** TLS to the brokers: true, or options. */
        ssl: z
          .union([
            z.boolean(),
            z
              .object({
                /** A PEM file of the CA that signed the brokers' certificates. */
                caFile: z.string().min(1).optional(),
                rejectUnauthorized: z.boolean().default(true),
              })
              .strict(),
          ])
          .default(false),
        /** SASL login; the password comes from TICKLINE_KAFKA_PASSWORD only. */
        sasl: z
          .object({
            mechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']),
            username: z.string().min(1),
          })
          .strict()
          .nullable()
          .default(null),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;

const CONFIG_NAMES = ['tickline.config.yaml', 'tickline.config.yml', 'tickline.config.json'];

function zodToConfigError(err: z.ZodError, file: string): ConfigError {
  const issue = err.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const path = [...issue.path, issue.keys[0]].join('.');
    return new ConfigError(`${file}: ${path}`, 'no such setting (unknown key; check the spelling)');
  }
  const path = issue.path.join('.') || '(root)';
  return new ConfigError(
    `${file}: ${path}`,
    issue.message.replace(/^Invalid input: expected /, ''),
  );
}

/**
 * Loads the config file (explicit path, `TICKLINE_CONFIG`, or the first of
 * tickline.config.{yaml,yml,json} in `cwd`), then applies environment overrides.
 */
export function loadConfig(
  opts: { file?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Config {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const explicit = opts.file ?? env.TICKLINE_CONFIG;
  const file = explicit
    ? resolve(cwd, explicit)
    : CONFIG_NAMES.map((n) => join(cwd, n)).find((p) => existsSync(p));
  let raw: unknown = {};
  if (file) {
    if (!existsSync(file)) throw new ConfigError(file, 'an existing config file (no such file)');
    const text = readFileSync(file, 'utf8');
    try {
      raw = file.endsWith('.json') ? JSON.parse(text) : (parseYaml(text) ?? {});
    } catch (err) {
      throw new ConfigError(
        file,
        `valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`,
      );
    }
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) throw zodToConfigError(parsed.error, file ?? 'config');
  const cfg = parsed.data;
  const envUrl = (name: string, schema = url): string | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    if (!schema.safeParse(v).success) {
      throw new ConfigError(name, schema === url ? 'an http(s) URL' : 'a ws(s) URL', v);
    }
    return v;
  };
  if (env.TICKLINE_DATA_DIR) cfg.dataDir = env.TICKLINE_DATA_DIR;
  cfg.sources.yahoo.baseUrl = envUrl('TICKLINE_YAHOO_URL') ?? cfg.sources.yahoo.baseUrl;
  cfg.sources.stooq.baseUrl = envUrl('TICKLINE_STOOQ_URL') ?? cfg.sources.stooq.baseUrl;
  const fh = cfg.sources.finnhub;
  fh.wsUrl = envUrl('TICKLINE_FINNHUB_WS_URL', wsUrl) ?? fh.wsUrl;
  fh.restUrl = envUrl('TICKLINE_FINNHUB_URL') ?? fh.restUrl;
  const brokers = env.TICKLINE_KAFKA_BROKERS;
  if (brokers !== undefined && brokers !== '') {
    const list = brokers.split(',').map((b) => b.trim());
    const bad = list.find((b) => !/^[^\s:]+:\d{1,5}$/.test(b));
    if (bad !== undefined)
      throw new ConfigError('TICKLINE_KAFKA_BROKERS', 'host:port[,host:port…]', brokers);
    cfg.log.brokers = list;
  }
  const ns = env.TICKLINE_KAFKA_NAMESPACE;
  if (ns !== undefined && ns !== '') {
    if (!/^[A-Za-z0-9._-]+$/.test(ns)) {
      throw new ConfigError('TICKLINE_KAFKA_NAMESPACE', 'letters, digits, ".", "_" or "-"', ns);
    }
    cfg.log.namespace = ns;
  }
  cfg.dataDir = resolve(cwd, cfg.dataDir);
  const pgUrl = env.TICKLINE_PG_URL;
  if (pgUrl !== undefined && pgUrl !== '') {
    if (!/^postgres(ql)?:\/\//.test(pgUrl))
      throw new ConfigError('TICKLINE_PG_URL', 'a postgres:// URL', pgUrl);
    cfg.pipelines.postgresUrl = pgUrl;
  }
  const storeUrl = env.TICKLINE_STORE_URL;
  if (storeUrl !== undefined && storeUrl !== '') setStoreUrl(cfg, storeUrl, 'TICKLINE_STORE_URL');
  else if (cfg.store.url !== null) setStoreUrl(cfg, cfg.store.url, 'store.url');
  const base = file ? dirname(file) : cwd;
  const section = cfg.pipelines as Record<string, unknown>;
  if (!raw || typeof raw !== 'object' || !('pipelines' in raw)) {
    section['daily-curate'] = defaultPipeline(join(cfg.dataDir, 'lake'));
  }
  for (const p of Object.values(pipelinesOf(cfg.pipelines))) {
    for (const t of Object.values(p.tasks)) {
      if (t.kind === 'export') t.out = resolve(base, t.out);
      if (t.kind === 'import') t.folder = resolve(base, t.folder);
      if (t.kind === 'command' && t.cwd) t.cwd = resolve(base, t.cwd);
    }
  }
  return cfg;
}

/** The store kind a URL's scheme names. */
const STORE_SCHEMES: Record<string, Config['store']['kind']> = {
  'duckdb:': 'duckdb',
  'postgres:': 'postgres',
  'postgresql:': 'postgres',
  'cassandra:': 'cassandra',
};

/** Points the config at a store URL (from `where`: a flag, env or the config), checking its form. */
export function setStoreUrl(cfg: Config, value: string, where: string): void {
  if (value.startsWith('cassandra://')) {
    // Several contact points (host:port,host:port) are no WHATWG URL: checked by form.
    if (!/^cassandra:\/\/[^/?#]+\/[A-Za-z][A-Za-z0-9_]{0,47}\/?$/.test(value)) {
      throw new ConfigError(
        where,
        'cassandra://host[:port][,host[:port]…]/keyspace (a keyspace: a letter, then letters, digits or _)',
        value,
      );
    }
    cfg.store.kind = 'cassandra';
    cfg.store.url = value;
    return;
  }
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(
      where,
      'a store URL: postgres://host[:port]/db, cassandra://host[:port]/keyspace or duckdb:///file.duckdb',
      value,
    );
  }
  const kind = STORE_SCHEMES[parsed.protocol];
  if (!kind) {
    throw new ConfigError(where, 'a postgres://, cassandra:// or duckdb:// URL', value);
  }
  cfg.store.kind = kind;
  cfg.store.url = value;
}

/** The DuckDB file: the store URL's path, or tickline.duckdb inside the data folder. */
export function databasePath(cfg: Config): string {
  if (cfg.store.kind === 'duckdb' && cfg.store.url) {
    const path = decodeURIComponent(new URL(cfg.store.url).pathname);
    if (path) return path;
  }
  return join(cfg.dataDir, 'tickline.duckdb');
}

/** Where the store is, for messages: the DuckDB file, or the URL without its password. */
export function storeLocation(cfg: Config): string {
  if (cfg.store.kind === 'duckdb') return databasePath(cfg);
  const u = new URL(cfg.store.url ?? '');
  // A password in the URL is a secret: never shown.
  if (u.password) u.password = '***';
  return u.toString();
}

/** The pipeline a config without `pipelines:` has: curate the bundled universe and export it, each weekday evening. */
export function defaultPipeline(lake: string): PipelineSpec {
  return PipelineSchema.parse({
    description: 'refresh the curated layer and export it as Parquet after the New York close',
    schedule: '30 17 * * 1-5',
    timezone: 'America/New_York',
    calendar: 'XNYS',
    tasks: {
      curate: { kind: 'curate', retries: 2 },
      export: { kind: 'export', needs: ['curate'], layer: 'curated', format: 'parquet', out: lake },
    },
  });
}
