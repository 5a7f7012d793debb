/**
 * The live path end to end through a real local Kafka broker (acks=all,
 * idempotent, lz4): JSON messages → produce (raw trades) → consume →
 * validate → 1s and 1m bars → produce (trades, bars) → consume → DuckDB,
 * against the same pipeline over the in-process log.
 *
 * - Throughput: trades/s from the first message to the last row stored.
 * - Latency, at a paced load whose event time follows the wall clock:
 *   produce → trade stored (its receive time to the store write that holds
 *   it), and produce → bar stored (a 1s bar's end to the write that first
 *   holds it: the first trade past the window closes it).
 *
 *   scripts/services/kafka/start.sh && npx tsx bench/kafka-pipeline.bench.ts
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/core/config.ts';
import { intervalMs } from '../src/core/time.ts';
import { KafkaLog } from '../src/log/kafka/kafka-log.ts';
import type { Log } from '../src/log/log.ts';
import { MemoryLog } from '../src/log/memory/memory-log.ts';
import { StreamPipeline } from '../src/pipelines/stream.ts';
import { simulate } from '../src/sources/simulator/simulator.ts';
import { openStoreAt } from '../src/store/open-store.ts';
import type { Store } from '../src/store/store.ts';
import { arraySource } from './array-source.ts';
import { LIVE_SYMBOLS } from './live.bench.ts';

export interface PipelineRow {
  log: string;
  load: string;
  trades: number;
  tradesPerSec: number;
  tradeP50: number;
  tradeP99: number;
  barP50: number;
  barP99: number;
}

const SIM_RATE = 20_000;

function messages(trades: number, perMessage: number, startTs: number): string[] {
  const gen = simulate({
    symbols: LIVE_SYMBOLS,
    seed: 3,
    tradesPerSecond: SIM_RATE,
    burstiness: 0.3,
    tradesPerMessage: perMessage,
    startTs,
  });
  return Array.from({ length: Math.ceil(trades / perMessage) }, () => gen.next().value!.text);
}

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
};

/** The store, noting when each trade and each 1s bar is first written. */
function timed(store: Store, tradeLat: number[], barLat: number[]): Store {
  const seen = new Set<string>();
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== 'write') {
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      }
      return async (batch: Parameters<Store['write']>[0]) => {
        const res = await target.write(batch);
        const now = Date.now();
        for (const t of batch.trades ?? []) {
          const at = (t as { receivedAt?: number }).receivedAt;
          if (at) tradeLat.push(now - at);
        }
        for (const b of batch.bars) {
          if (b.interval !== '1s' || b.tradeCount == null) continue;
          const key = `${b.symbol}/${b.ts}`;
          if (seen.has(key)) continue;
          seen.add(key);
          barLat.push(now - (b.ts + intervalMs(b.interval)));
        }
        return res;
      };
    },
  });
}

async function run(
  dir: string,
  log: Log,
  msgs: readonly string[],
  rate: number | undefined,
): Promise<Omit<PipelineRow, 'log' | 'load'>> {
  const file = join(dir, `pipe-${randomUUID().slice(0, 8)}.duckdb`);
  const store = await openStoreAt(file);
  const tradeLat: number[] = [];
  const barLat: number[] = [];
  const cfg = loadConfig({ cwd: '/', env: {} });
  const pipeline = new StreamPipeline({
    source: arraySource(msgs, rate),
    symbols: LIVE_SYMBOLS,
    store: timed(store, tradeLat, barLat),
    log,
    live: { ...cfg.live, intervals: ['1s', '1m'] },
    futureSkewMs: 60_000,
  });
  const t0 = performance.now();
  const stats = await pipeline.run();
  const seconds = (performance.now() - t0) / 1000;
  await log.close();
  await store.close();
  rmSync(file, { force: true });
  rmSync(`${file}.wal`, { force: true });
  return {
    trades: stats.tradesIn,
    tradesPerSec: stats.tradesIn / seconds,
    tradeP50: pct(tradeLat, 0.5),
    tradeP99: pct(tradeLat, 0.99),
    barP50: pct(barLat, 0.5),
    barP99: pct(barLat, 0.99),
  };
}

export async function benchKafkaPipeline(
  dir: string,
  brokers: string[],
  opts: { trades: number; pacedSeconds: number },
): Promise<PipelineRow[]> {
  const per = 10;
  const logs: [string, () => Log][] = [
    ['in-process', () => new MemoryLog()],
    ...[true, false].map(
      (exactlyOnce) =>
        [
          `Kafka (1 broker, acks=all), ${exactlyOnce ? 'exactly once (transactions)' : 'at least once'}`,
          () =>
            new KafkaLog({
              brokers,
              namespace: `bench${randomUUID().slice(0, 8)}.`,
              exactlyOnce,
              onError: () => {},
            }),
        ] as [string, () => Log],
    ),
  ];
  const rows: PipelineRow[] = [];
  const fast = messages(opts.trades, per, Date.now() - 86_400_000);
  for (const [name, make] of logs) {
    rows.push({
      log: name,
      load: 'as fast as it goes',
      ...(await run(dir, make(), fast, undefined)),
    });
  }
  // Paced at the simulator's own rate from a start just ahead: event time follows the wall clock.
  for (const [name, make] of logs) {
    const startTs = Date.now() + 2_000;
    const paced = messages(SIM_RATE * opts.pacedSeconds, per, startTs);
    await new Promise((r) => setTimeout(r, Math.max(0, startTs - Date.now())));
    rows.push({
      log: name,
      load: `${SIM_RATE / 1000}k trades/s, paced`,
      ...(await run(dir, make(), paced, SIM_RATE / per)),
    });
  }
  return rows;
}

if (
  process.argv[1] &&
  import.meta.filename === (await import('node:fs')).realpathSync(process.argv[1])
) {
  const brokers = (process.env.TICKLINE_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
  const dir = join(import.meta.dirname, '.data');
  (await import('node:fs')).mkdirSync(dir, { recursive: true });
  const rows = await benchKafkaPipeline(dir, brokers, {
    trades: Number(process.env.BENCH_N ?? 500_000),
    pacedSeconds: 10,
  });
  for (const r of rows) console.log(JSON.stringify(r));
}
