/**
 * The live path over Kafka through the faults that stalled it: a process
 * worker killed with SIGKILL, then the broker stopped for 12 s. Afterwards
 * every record is processed and stored (the tables equal a single-process
 * run of the same session), every topic's output holds each record once,
 * and the remaining processes end on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaLog } from '../../src/log/kafka/kafka-log.ts';
import { TOPICS } from '../../src/log/log.ts';
import { parseFinnhubMessage } from '../../src/sources/finnhub/finnhub-messages.ts';
import { emptyLiveBatch } from '../../src/sources/source.ts';
import { startCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';
import {
  backlog,
  committedOffsets,
  failedToRejoin,
  KAFKA_SYMBOLS,
  kafkaConfig,
  liveTables,
  namespace,
  ownBroker,
  referenceRun,
  startIngest,
  startWorkers,
  stderrLines,
  until,
} from '../helpers/kafka.ts';

const SYMBOLS = KAFKA_SYMBOLS;
const dir = tempDir('tickline-kafka-faults-');
const session = join(dir, 'session.ndjson');
const broker = ownBroker(19_292, join(dir, 'broker'));
let reference: Awaited<ReturnType<typeof liveTables>>;

/** Every record of a topic as a read_committed consumer sees it: total and distinct, by a key of its content. */
async function topicOutput(
  brokers: string,
  ns: string,
  topic: string,
  key: (r: unknown) => string[],
) {
  const log = new KafkaLog({ brokers: brokers.split(','), namespace: ns, onError: () => {} });
  const seen: string[] = [];
  const group = `audit-${Date.now()}`;
  try {
    const sub = await log.consume<unknown>(topic, group, async (b) => {
      for (const r of b.records) seen.push(...key(r));
      await sub.commit(b.partition, b.next);
    });
    await until(async () => (await log.lag(topic, group)) === 0, 60_000, `reading ${topic}`);
    await sub.close();
  } finally {
    await log.close();
  }
  return { total: seen.length, distinct: new Set(seen).size };
}

beforeAll(async () => {
  reference = await referenceRun(session, join(dir, 'reference'), 20_000, {
    symbols: SYMBOLS,
    seed: 31,
    tradesPerSecond: 1_000,
    tradesPerMessage: 2,
    faultRate: 0.01,
    duplicateRate: 0.02,
    startTs: Date.UTC(2024, 4, 7, 14),
  });
  await broker.start();
}, 180_000);
afterAll(async () => {
  await broker.remove();
});

describe('Kafka: a worker killed, then the broker away', () => {
  it('recovers with 0 lost and 0 duplicated in the store and in every topic, and every process ends on SIGTERM', async () => {
    const ns = namespace();
    const data = join(dir, 'combined');
    const env = {
      TICKLINE_CONFIG: kafkaConfig(dir, broker.brokers),
      // The environment names the shared test broker; this test's processes use their own.
      TICKLINE_KAFKA_BROKERS: broker.brokers,
      TICKLINE_KAFKA_NAMESPACE: ns,
      TICKLINE_DATA_DIR: data,
    };
    const { sink, w1, w2 } = startWorkers(env, dir, SYMBOLS);
    const w2Errors = stderrLines(w2.child);
    const sinkErrors = stderrLines(sink.child);
    const ingest = startIngest(env, session, SYMBOLS);
    // Mid-stream: once the workers have processed, published and committed some of the feed.
    await until(
      async () =>
        (await committedOffsets(broker.brokers, ns, TOPICS.rawTrades, 'process')) > 0 &&
        (await committedOffsets(broker.brokers, ns, TOPICS.trades, 'store')) > 0,
      120_000,
      'the workers to store part of the feed',
    );
    w1.child.kill('SIGKILL');
    await w1.done;
    await broker.pause();
    // The broker stays away until both remaining processes have failed to rejoin their groups
    // more than once (the group sessions have long expired: what stalled the workers).
    const before = [w2Errors.length, sinkErrors.length];
    await until(
      () => failedToRejoin(w2Errors, before[0]!) && failedToRejoin(sinkErrors, before[1]!),
      120_000,
      'the workers to fail to rejoin their groups',
    );
    await broker.start();
    const fed = await ingest.done;
    expect(fed.code, fed.stderr).toBe(0);
    await until(
      async () => (await backlog(ns, broker.brokers).catch(() => 1)) === 0,
      180_000,
      'every record processed and stored',
    );
    w2.child.kill('SIGTERM');
    sink.child.kill('SIGTERM');
    const [r2, rs] = await Promise.all([w2.done, sink.done]);
    expect(r2.code, r2.stderr.slice(-2000)).toBe(0);
    expect(rs.code, rs.stderr.slice(-2000)).toBe(0);

    const got = await liveTables(join(data, 'tickline.duckdb'));
    expect(got.extraRows).toEqual({ trades: 0, bars: 0, quarantine: 0 });
    expect(got.trades.length).toBe(reference.trades.length);
    expect(got.trades).toEqual(reference.trades);
    expect(got.bars).toEqual(reference.bars);
    expect(got.quarantine).toEqual(reference.quarantine);

    // Each topic's output holds every record once, as a read_committed consumer sees it.
    const trades = await topicOutput(broker.brokers, ns, TOPICS.trades, (r) => {
      const c = r as { trades?: { symbol: string; ts: number; tradeId: string }[] };
      return (c.trades ?? [r as { symbol: string; ts: number; tradeId: string }]).map(
        (t) => `${t.symbol}|${t.ts}|${t.tradeId}`,
      );
    });
    console.log(`trades topic: ${trades.total} records, ${trades.distinct} distinct`);
    expect(trades.distinct).toBe(reference.trades.length);
    expect(trades.total).toBe(trades.distinct);
    const bars = await topicOutput(broker.brokers, ns, TOPICS.bars, (r) => [JSON.stringify(r)]);
    console.log(`bars topic: ${bars.total} records, ${bars.distinct} distinct`);
    expect(bars.total).toBe(bars.distinct);
    // The raw topic holds every trade of the feed as sent (the feed's own repeats included) once.
    const raw = await topicOutput(broker.brokers, ns, TOPICS.rawTrades, (r) => {
      const c = r as { trades?: { symbol: string; ts: number; price: number }[]; end?: true };
      return c.end ? [] : (c.trades ?? []).map((t, i) => `${t.symbol}|${t.ts}|${t.price}|${i}`);
    });
    const sent = readFileSync(session, 'utf8')
      .trim()
      .split('\n')
      .reduce((n, line) => {
        const out = emptyLiveBatch();
        parseFinnhubMessage((JSON.parse(line) as { message: string }).message, 0, 'finnhub', out);
        return n + out.trades.length;
      }, 0);
    console.log(`raw topic: ${raw.total} trades; the feed sent ${sent}`);
    expect(raw.total).toBe(sent);
    const quarantine = await topicOutput(broker.brokers, ns, TOPICS.quarantine, (r) => [
      JSON.stringify(r),
    ]);
    console.log(`quarantine topic: ${quarantine.total} records, ${quarantine.distinct} distinct`);
    expect(quarantine.total).toBe(quarantine.distinct);
  }, 400_000);

  it('a stream stopped with SIGTERM while the broker is away ends within the drain timeout, saying what was left', async () => {
    const env = {
      TICKLINE_CONFIG: kafkaConfig(dir, broker.brokers, 'json', { drainTimeoutMs: 2_000 }),
      TICKLINE_KAFKA_BROKERS: broker.brokers,
      TICKLINE_KAFKA_NAMESPACE: namespace(),
      TICKLINE_DATA_DIR: join(dir, 'sigterm'),
    };
    const stream = startCli(
      [
        'stream',
        '--source',
        'replay',
        '--file',
        session,
        '--speed',
        '1',
        '--symbols',
        SYMBOLS.join(','),
      ],
      env,
    );
    let err = '';
    stream.child.stderr?.on('data', (d) => {
      err += d;
    });
    // Mid-stream (the session lasts ~40 s at speed 1), the broker goes away, then the stop comes.
    await until(
      async () =>
        (await committedOffsets(
          broker.brokers,
          env.TICKLINE_KAFKA_NAMESPACE,
          TOPICS.trades,
          'store',
        )) > 0,
      120_000,
      'the stream to store part of the feed',
    );
    expect(stream.child.exitCode).toBeNull();
    await broker.pause();
    stream.child.kill('SIGTERM');
    const r = await stream.done;
    await broker.start();
    expect(r.code, r.stderr.slice(-2_000)).toBe(1);
    expect(err).toMatch(
      /stopped before everything was stored: .*still in the log after live.drainTimeoutMs \(2000 ms\)/,
    );
  }, 120_000);
});
