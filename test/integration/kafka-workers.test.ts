/**
 * The live path spread over processes on a real Kafka broker: an ingest
 * process replays a recorded-style session into the raw topic (6
 * partitions), two `tickline worker` processes share the process stage, and
 * a third stores. One worker is killed with SIGKILL mid-stream; the other
 * takes over its partitions from their checkpoints. The stored trades, bars
 * and quarantine equal a single-process run of the same session exactly.
 */
import { join } from 'node:path';
import { Admin, Producer } from '@platformatic/kafka';
import { beforeAll, describe, expect, it } from 'vitest';
import { KafkaLog } from '../../src/log/kafka/kafka-log.ts';
import { partitionOf, TOPICS } from '../../src/log/log.ts';
import { startCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';
import {
  BROKERS,
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
const dir = tempDir('tickline-kafka-');
const session = join(dir, 'session.ndjson');
let reference: Awaited<ReturnType<typeof liveTables>>;

beforeAll(async () => {
  // The reference: the whole session in one process over the in-process log.
  reference = await referenceRun(session, join(dir, 'reference'), 12_000, {
    symbols: SYMBOLS,
    seed: 29,
    tradesPerSecond: 1_000,
    tradesPerMessage: 2,
    faultRate: 0.01,
    duplicateRate: 0.02,
    startTs: Date.UTC(2024, 4, 7, 14),
  });
  expect(reference.trades.length).toBeGreaterThan(20_000);
  expect(reference.quarantine.length).toBeGreaterThan(50);
}, 120_000);

describe('workers over Kafka', () => {
  it('a worker killed with SIGKILL mid-stream: the other takes over, 0 lost and 0 duplicated', async () => {
    const ns = namespace();
    const data = join(dir, 'kafka');
    const env = {
      TICKLINE_CONFIG: kafkaConfig(dir),
      TICKLINE_KAFKA_NAMESPACE: ns,
      TICKLINE_DATA_DIR: data,
    };
    const { sink, w1, w2 } = startWorkers(env, dir, SYMBOLS);
    // Both workers are members of the process group before the feed starts.
    const admin = new Admin({ clientId: 'test', bootstrapBrokers: BROKERS.split(',') });
    const group = `${ns}process.tickline.trades.raw`;
    const members = async (): Promise<number> => {
      try {
        const g = (await admin.describeGroups({ groups: [group] })).get(group);
        return g?.state === 'STABLE' ? g.members.size : 0;
      } catch {
        return 0;
      }
    };
    await until(async () => (await members()) === 2, 60_000, 'two workers in the group');

    const ingest = startIngest(env, session, SYMBOLS);
    // Mid-stream: once the workers have processed, and the sink stored, part of the feed.
    await until(
      async () =>
        (await committedOffsets(BROKERS, ns, TOPICS.rawTrades, 'process')) > 0 &&
        (await committedOffsets(BROKERS, ns, TOPICS.trades, 'store')) > 0,
      60_000,
      'the workers to store part of the feed',
    );
    expect(ingest.child.exitCode).toBeNull();
    w1.child.kill('SIGKILL');
    const killedAt = Date.now();
    await w1.done;
    const fed = await ingest.done;
    expect(fed.code, fed.stderr).toBe(0);
    await until(async () => (await members()) === 1, 30_000, 'the group to drop the killed worker');
    const takeoverMs = Date.now() - killedAt;
    await until(async () => (await backlog(ns)) === 0, 90_000, 'every record processed and stored');
    await admin.close();
    w2.child.kill('SIGTERM');
    sink.child.kill('SIGTERM');
    const [r2, rs] = await Promise.all([w2.done, sink.done]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(rs.code, rs.stderr).toBe(0);
    console.log(`SIGKILL takeover: the group dropped the killed worker after ${takeoverMs} ms`);

    const got = await liveTables(join(data, 'tickline.duckdb'));
    expect(got.extraRows).toEqual({ trades: 0, bars: 0, quarantine: 0 });
    expect(got.trades.length).toBe(reference.trades.length);
    expect(got.trades).toEqual(reference.trades);
    expect(got.bars).toEqual(reference.bars);
    expect(got.quarantine).toEqual(reference.quarantine);
  }, 240_000);

  it('the broker stopped for 10 s mid-stream: clients back off and resume, and the tables equal the reference', async () => {
    const broker = ownBroker(19_192, join(dir, 'broker'));
    await broker.start();
    try {
      const data = join(dir, 'outage');
      const env = {
        TICKLINE_CONFIG: kafkaConfig(dir, broker.brokers),
        // The environment names the shared test broker; this test's processes use their own.
        TICKLINE_KAFKA_BROKERS: broker.brokers,
        TICKLINE_KAFKA_NAMESPACE: namespace(),
        TICKLINE_DATA_DIR: data,
      };
      const stream = startCli(
        [
          'stream',
          '--source',
          'replay',
          '--file',
          session,
          '--speed',
          '2',
          '--symbols',
          SYMBOLS.join(','),
        ],
        env,
      );
      let finished = false;
      void stream.done.then(() => {
        finished = true;
      });
      const errors = stderrLines(stream.child);
      // The feed (about 12 s at 2×) is mid-stream when the broker goes: part of it is stored.
      await until(
        async () =>
          (await committedOffsets(
            broker.brokers,
            env.TICKLINE_KAFKA_NAMESPACE,
            TOPICS.trades,
            'store',
          )) > 0,
        60_000,
        'the stream to store part of the feed',
      );
      expect(finished).toBe(false);
      await broker.pause();
      const stoppedAt = Date.now();
      // Away until the stream's consumers have failed to rejoin their groups more than once.
      const before = errors.length;
      await until(() => failedToRejoin(errors, before), 120_000, 'the stream to fail to rejoin');
      const restartAt = Date.now();
      await broker.start();
      const res = await stream.done;
      const doneAt = Date.now();
      console.log(
        `broker away ${restartAt - stoppedAt} ms (until its consumers had failed to rejoin twice); the stream finished ${doneAt - restartAt} ms after the restart began`,
      );
      expect(res.code, res.stderr).toBe(0);
      // The feed could not finish while the broker was away: it went on once it was back.
      expect(doneAt).toBeGreaterThan(restartAt);
      const got = await liveTables(join(data, 'tickline.duckdb'));
      expect(got.extraRows).toEqual({ trades: 0, bars: 0, quarantine: 0 });
      expect(got.trades).toEqual(reference.trades);
      expect(got.bars).toEqual(reference.bars);
      expect(got.quarantine).toEqual(reference.quarantine);
    } finally {
      await broker.remove();
    }
  }, 240_000);

  it('a poison record (not Avro, or an unknown schema) is quarantined with its raw bytes, and its partition keeps flowing', async () => {
    const ns = namespace();
    const data = join(dir, 'poison');
    const env = {
      TICKLINE_CONFIG: kafkaConfig(dir, BROKERS, 'avro'),
      TICKLINE_KAFKA_NAMESPACE: ns,
      TICKLINE_DATA_DIR: data,
    };
    // Two records no tickline codec wrote, first on AAPL's partition of the raw topic.
    const log = new KafkaLog({ brokers: BROKERS.split(','), namespace: ns, onError: () => {} });
    const partition = partitionOf('AAPL', await log.partitions(TOPICS.rawTrades));
    await log.close();
    const notAvro = Buffer.from('{"s":"AAPL","p":189.1,"t":1715090400000,"v":5}');
    const unknownSchema = Buffer.concat([
      Buffer.from([0xc3, 0x01]),
      Buffer.alloc(8, 0xab),
      Buffer.from([8, 0x41, 0x41]),
    ]);
    const raw = new Producer({ clientId: 'poison', bootstrapBrokers: BROKERS.split(',') });
    await raw.send({
      messages: [notAvro, unknownSchema].map((value) => ({
        topic: `${ns}${TOPICS.rawTrades}`,
        partition,
        key: Buffer.from('AAPL'),
        value,
      })),
    });
    await raw.close();

    const res = await startCli(
      [
        'stream',
        '--source',
        'replay',
        '--file',
        session,
        '--speed',
        'max',
        '--symbols',
        SYMBOLS.join(','),
      ],
      env,
    ).done;
    expect(res.code, res.stderr).toBe(0);
    const got = await liveTables(join(data, 'tickline.duckdb'));
    const decode = got.quarantine.filter((l) => l.startsWith('decode|'));
    expect(decode).toEqual(
      [
        `decode|undecodable_record|AAPL|base64:${notAvro.toString('base64')}`,
        `decode|unresolvable_schema|AAPL|base64:${unknownSchema.toString('base64')}`,
      ].sort(),
    );
    expect(got.quarantine.filter((l) => !l.startsWith('decode|'))).toEqual(reference.quarantine);
    expect(got.trades).toEqual(reference.trades);
    expect(got.bars).toEqual(reference.bars);
  }, 240_000);

  it('up --log kafka serves the dashboard and API with the live path over Kafka, and stores what it ingests', async () => {
    const ns = namespace();
    const data = join(dir, 'up');
    const up = startCli(
      [
        'up',
        '--log',
        'kafka',
        '--port',
        '0',
        '--duration',
        '8',
        '--rate',
        '400',
        '--hours',
        'always',
      ],
      {
        TICKLINE_CONFIG: kafkaConfig(dir),
        TICKLINE_KAFKA_NAMESPACE: ns,
        TICKLINE_DATA_DIR: data,
      },
    );
    let out = '';
    up.child.stdout?.on('data', (d) => {
      out += d;
    });
    await until(
      () => /dashboard: (http:\/\/127\.0\.0\.1:\d+)\//.test(out),
      60_000,
      'the dashboard URL',
    );
    const url = /dashboard: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)![1]!;
    type Health = { status: string; log: { ready: boolean; kind: string; backlog: number } };
    let health: Health | undefined;
    // Once the live path has stored something, the log is certainly up and joined.
    await until(
      async () => {
        try {
          health = (await (await fetch(`${url}/api/health`)).json()) as Health;
        } catch {
          return false;
        }
        const stats = (await (await fetch(`${url}/api/stats`)).json()) as {
          live?: { tradesStored?: number } | null;
        };
        return health.status === 'ok' && (stats.live?.tradesStored ?? 0) > 0;
      },
      60_000,
      'the live path to store trades',
    );
    if (!health) throw new Error('no health answer');
    expect(health.status).toBe('ok');
    expect(health.log).toMatchObject({ ready: true, kind: 'kafka' });
    expect(health.log.backlog).toBeGreaterThanOrEqual(0);
    const res = await up.done;
    expect(res.code, res.stderr).toBe(0);
    const m = /stopped: (\d+) new trades and (\d+) bars stored/.exec(res.stdout);
    expect(m, res.stdout).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(500);
    expect(Number(m![2])).toBeGreaterThan(0);
  }, 120_000);
});
