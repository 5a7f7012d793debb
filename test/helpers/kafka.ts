/** The Kafka tests' helpers: the local broker, a replay file, and stored tables to compare. */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Admin } from '@platformatic/kafka';
import { KafkaLog } from '../../src/log/kafka/kafka-log.ts';
import { TOPICS } from '../../src/log/log.ts';
import { type SimulatorOptions, simulate } from '../../src/sources/simulator/simulator.ts';
import { ROOT, startCli } from './cli.ts';
import { withDb } from './db.ts';

export const BROKERS = process.env.TICKLINE_KAFKA_BROKERS ?? '127.0.0.1:19092';

/** The symbols of the Kafka tests' sessions. */
export const KAFKA_SYMBOLS = [
  'AAPL',
  'MSFT',
  'TSLA',
  'NVDA',
  'AMZN',
  'META',
  'GOOG',
  'SPY',
  'QQQ',
  'AMD',
  'NFLX',
  'INTC',
];

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once `pred` holds (polled every 200 ms); fails naming `what` after `ms`. */
export async function until(
  pred: () => Promise<boolean> | boolean,
  ms: number,
  what: string,
): Promise<void> {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/**
 * Writes a session of `messages` to `file` and runs it through one process over the in-process
 * log into `refDir`: the tables a Kafka run must equal.
 */
export async function referenceRun(
  file: string,
  refDir: string,
  messages: number,
  opts: SimulatorOptions,
): Promise<Awaited<ReturnType<typeof liveTables>>> {
  writeSession(file, messages, opts);
  const args = ['stream', '--source', 'replay', '--file', file, '--speed', 'max'];
  const ref = await startCli([...args, '--symbols', opts.symbols.join(',')], {
    TICKLINE_DATA_DIR: refDir,
  }).done;
  if (ref.code !== 0) throw new Error(`the reference run failed: ${ref.stderr}`);
  return liveTables(join(refDir, 'tickline.duckdb'));
}

/** A store worker and two process workers (each with a data dir of its own under `dir`). */
export function startWorkers(env: Record<string, string>, dir: string, symbols: string[]) {
  const worker = (name: string) =>
    startCli(['worker', '--symbols', symbols.join(',')], {
      ...env,
      TICKLINE_DATA_DIR: join(dir, name),
    });
  return {
    sink: startCli(['worker', '--stages', 'store'], env),
    w1: worker('w1'),
    w2: worker('w2'),
  };
}

/** The ingest stage alone, replaying `file` into the raw topic at `speed`. */
export function startIngest(
  env: Record<string, string>,
  file: string,
  symbols: string[],
  speed = '4',
) {
  return startCli(
    ['stream', '--stages', 'ingest', '--source', 'replay', '--file', file, '--speed', speed].concat(
      ['--symbols', symbols.join(',')],
    ),
    env,
  );
}

/**
 * Offsets a consumer group has committed on a topic, summed over its partitions: how far a
 * stage has got (a test waits on it instead of a clock).
 */
export async function committedOffsets(
  brokers: string,
  ns: string,
  topic: string,
  group: string,
): Promise<number> {
  const admin = new Admin({ clientId: 'test-progress', bootstrapBrokers: brokers.split(',') });
  try {
    const groups = await admin.listConsumerGroupOffsets({
      groups: [
        {
          groupId: `${ns}${group}.${topic}`,
          topics: [{ name: `${ns}${topic}`, partitionIndexes: [0, 1, 2, 3, 4, 5] }],
        },
      ],
    });
    let sum = 0;
    for (const t of groups[0]?.topics ?? []) {
      for (const p of t.partitions) if (p.committedOffset > 0n) sum += Number(p.committedOffset);
    }
    return sum;
  } catch {
    return 0;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/**
 * Whether a process has failed to rejoin its consumer group at least twice since line `from`
 * of its stderr: the broker has been away longer than a join's own retries (seconds), the
 * outage that used to stall workers.
 */
export const failedToRejoin = (lines: readonly string[], from: number): boolean =>
  lines.slice(from).some((l) => /rejoining .*\(attempt [2-9]\d*; retrying\)/.test(l));

/** Lines a child process writes to stderr from now on, as they come. */
export function stderrLines(child: { stderr: NodeJS.ReadableStream | null }): string[] {
  const lines: string[] = [];
  child.stderr?.on('data', (d) => {
    for (const l of String(d).split('\n')) if (l.trim()) lines.push(l);
  });
  return lines;
}

/** A namespace of topics and groups no other test sees. */
export const namespace = (): string => `t${randomUUID().slice(0, 8)}.`;

/** A Finnhub session as a replay file (envelopes paced by event time). */
export function writeSession(file: string, n: number, opts: SimulatorOptions): void {
  const gen = simulate(opts);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const m = gen.next().value!;
    lines.push(JSON.stringify({ receivedAt: m.ts, source: 'finnhub', message: m.text }));
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

/** A config file for the Kafka tests: quick failure detection and checkpoints. */
export function kafkaConfig(
  dir: string,
  brokers = BROKERS,
  encoding: 'json' | 'avro' = 'json',
  live: Record<string, number> = {},
): string {
  const file = join(
    dir,
    `tickline.${encoding}.${Object.keys(live).join('-') || 'base'}.config.json`,
  );
  writeFileSync(
    file,
    JSON.stringify({
      log: {
        kind: 'kafka',
        brokers: brokers.split(','),
        sessionTimeoutMs: 3_000,
        heartbeatIntervalMs: 500,
        encoding,
      },
      live: { checkpointMs: 500, ...live },
    }),
  );
  return file;
}

/** Records of the live path still on their way (raw → process, and every stored topic). */
export async function backlog(ns: string, brokers = BROKERS): Promise<number> {
  const log = new KafkaLog({ brokers: brokers.split(','), namespace: ns, onError: () => {} });
  try {
    const lags = await Promise.all([
      log.lag(TOPICS.rawTrades, 'process'),
      log.lag(TOPICS.trades, 'store'),
      log.lag(TOPICS.quarantine, 'store'),
      log.lag(TOPICS.bars, 'store'),
    ]);
    return lags.reduce((a, b) => a + b, 0);
  } finally {
    await log.close();
  }
}

/**
 * The live path's tables, as sorted lines of their content (not ingest
 * times, which differ between runs), with rows beyond each natural key.
 */
export async function liveTables(dbFile: string) {
  return withDb(dbFile, async (q) => {
    const lines = async (sql: string): Promise<string[]> =>
      (await q(sql)).map((r) => Object.values(r).map(String).join('|')).sort();
    const [d] = await q(`SELECT
      (SELECT count(*) - count(DISTINCT (symbol, ts, trade_id)) FROM trades) AS trades,
      (SELECT count(*) - count(DISTINCT (symbol, interval, ts)) FROM bars) AS bars,
      (SELECT count(*) - count(DISTINCT id) FROM quarantine) AS quarantine`);
    return {
      trades: await lines(
        `SELECT symbol, epoch_ms(ts), trade_id, price, size, conditions, source FROM trades`,
      ),
      bars: await lines(
        `SELECT symbol, interval, epoch_ms(ts), open, high, low, close, volume, vwap, trade_count, source FROM bars`,
      ),
      quarantine: await lines(`SELECT stage, rule, symbol, payload FROM quarantine`),
      extraRows: {
        trades: Number(d!.trades),
        bars: Number(d!.bars),
        quarantine: Number(d!.quarantine),
      },
    };
  });
}

const run = promisify(execFile);

/** A broker of its own (port, folder) for a test that stops and restarts it. */
export function ownBroker(port: number, dir: string) {
  const env = { ...process.env, KAFKA_PORT: String(port), KAFKA_DIR: dir };
  const script = (name: string) => join(ROOT, 'scripts/services/kafka', name);
  return {
    brokers: `127.0.0.1:${port}`,
    start: () => run('bash', [script('start.sh')], { env }),
    /** Stops it, keeping its data (a restart brings the same broker back). */
    pause: () => run('bash', [script('stop.sh')], { env: { ...env, KAFKA_KEEP_DATA: '1' } }),
    remove: () => run('bash', [script('stop.sh')], { env }),
  };
}
