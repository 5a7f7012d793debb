/**
 * The Log contract against a real Kafka broker (scripts/services/kafka/start.sh;
 * TICKLINE_KAFKA_BROKERS, default 127.0.0.1:19092). `.ci/run` starts the broker.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Admin, Consumer, MessagesStreamModes, Producer } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { openLog } from '../../src/cli/open-log.ts';
import { loadConfig } from '../../src/core/config.ts';
import { KafkaLog } from '../../src/log/kafka/kafka-log.ts';
import { type PoisonRecord, partitionOf } from '../../src/log/log.ts';
import { until } from '../helpers/kafka.ts';
import { logContract } from './log-contract.ts';

const brokers = (process.env.TICKLINE_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const open = async (): Promise<KafkaLog> =>
  new KafkaLog({
    brokers,
    clientId: `contract-${randomUUID().slice(0, 8)}`,
    partitions: 6,
    sessionTimeoutMs: 3_000,
    heartbeatIntervalMs: 500,
    onError: () => {},
  });

logContract('kafka', open);

describe('KafkaLog', () => {
  it('hands an undecodable record to onPoison with its raw bytes, and the partition keeps flowing', async () => {
    const log = await open();
    const topic = `poison-${randomUUID()}`;
    await log.publish(topic, [{ key: 'K', n: 1 }], (r) => r.key);
    // Bytes no codec of ours wrote, on the same partition as K's records.
    const raw = new Producer({ clientId: 'poison', bootstrapBrokers: brokers });
    const partitions = await log.partitions(topic);
    await raw.send({
      messages: [
        {
          topic,
          partition: partitionOf('K', partitions),
          key: Buffer.from('K'),
          value: Buffer.from([0xde, 0xad, 0x7b]),
        },
      ],
    });
    await raw.close();
    await log.publish(topic, [{ key: 'K', n: 2 }], (r) => r.key);
    const got: number[] = [];
    const poison: PoisonRecord[] = [];
    let sub: Awaited<ReturnType<KafkaLog['consume']>> | undefined;
    sub = await log.consume<{ n: number }>(
      topic,
      'g',
      async (b) => {
        got.push(...b.records.map((r) => r.n));
        await sub!.commit(b.partition, b.next);
      },
      { onPoison: async (p) => void poison.push(p) },
    );
    await until(() => got.length >= 2, 60_000, 'the two good records');
    expect(got).toEqual([1, 2]);
    expect(poison).toHaveLength(1);
    expect(Buffer.from(poison[0]!.bytes)).toEqual(Buffer.from([0xde, 0xad, 0x7b]));
    expect(poison[0]!.reason).toMatch(/not JSON/);
    expect(poison[0]!.key).toBe('K');
    await until(async () => (await log.lag(topic, 'g')) === 0, 60_000, 'the group to commit');
    expect(await log.lag(topic, 'g')).toBe(0);
    await sub.close();
    await log.close();
  });
});

describe('the Kafka client, as patched (patches/@platformatic+kafka+1.35.0.patch)', () => {
  // A fetch response can hold an abort marker whose transaction its abortedTransactions does not
  // list (a transaction that began before the fetch offset; upstream issue #391, fixed only in the
  // 2.x line, which needs Node 22). The unpatched client threw an uncaught TypeError on it, which
  // took down a read_committed reader in a loaded CI run. The broker here lists both aborted
  // transactions; the test drops the one that began before the fetch offset from the response,
  // which is the shape the client must survive.
  it('reads on past an abort marker that the fetch response lists no transaction for', async () => {
    const topic = `abort-${randomUUID()}`;
    const admin = new Admin({ clientId: 'abort-admin', bootstrapBrokers: brokers });
    await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
    await admin.close();
    const send = async (value: string, commit: boolean): Promise<void> => {
      const producer = new Producer({
        clientId: 'abort',
        bootstrapBrokers: brokers,
        idempotent: true,
        transactionalId: `abort-${randomUUID()}`,
      });
      const tx = await producer.beginTransaction();
      await tx.send({
        messages: [{ topic, partition: 0, key: Buffer.from('K'), value: Buffer.from(value) }],
      });
      await (commit ? tx.commit() : tx.abort());
      await producer.close();
    };
    // Offsets: 0 and 2 aborted records, 1 and 3 their abort markers, 4 the kept record.
    await send('aborted-1', false);
    await send('aborted-2', false);
    await send('kept', true);
    const consumer = new Consumer({
      clientId: 'abort-reader',
      groupId: `abort-${randomUUID()}`,
      bootstrapBrokers: brokers,
    });
    type Api = (...args: unknown[]) => void;
    type Response = {
      responses: { partitions: { abortedTransactions: { firstOffset: bigint }[] }[] }[];
    };
    const client = consumer as unknown as Record<
      symbol,
      (name: string, cb: (e: unknown, api?: Api) => void) => void
    >;
    let proto: object | null = consumer;
    let kGetApi: symbol | undefined;
    while (proto !== null && kGetApi === undefined) {
      kGetApi = Object.getOwnPropertySymbols(proto).find(
        (s) => s.description === 'plt.kafka.base.getApi',
      );
      proto = Object.getPrototypeOf(proto);
    }
    expect(kGetApi).toBeDefined();
    const getApi = client[kGetApi!]!.bind(consumer);
    let fetches = 0;
    client[kGetApi!] = (name, cb) =>
      getApi(name, (error, api) => {
        if (error || name !== 'Fetch' || api === undefined) return cb(error, api);
        cb(null, (...args: unknown[]) => {
          const done = args.pop() as (e: unknown, r?: Response) => void;
          api(...args, (e: unknown, res?: Response) => {
            for (const t of res?.responses ?? []) {
              for (const p of t.partitions) {
                p.abortedTransactions = p.abortedTransactions.filter((x) => x.firstOffset >= 1n);
              }
            }
            fetches++;
            done(e, res);
          });
        });
      });
    const stream = await consumer.consume({
      topics: [topic],
      mode: MessagesStreamModes.MANUAL,
      offsets: [{ topic, partition: 0, offset: 1n }],
      isolationLevel: 1,
      autocommit: false,
    });
    const got: string[] = [];
    for await (const m of stream) {
      got.push(Buffer.from(m.value as Buffer).toString());
      break;
    }
    expect(fetches).toBeGreaterThan(0);
    expect(got).toEqual(['kept']);
    await stream.close();
    await consumer.close(true);
  });
});

describe('KafkaLog record size', () => {
  it('fails a record larger than the broker takes at once, naming its size and topic, and keeps publishing', async () => {
    const log = await open();
    const topic = `big-${randomUUID()}`;
    // Over the broker's default message.max.bytes (1 MiB) even compressed (random bytes):
    // no retry can make it fit.
    const pad = randomBytes(900_000).toString('base64');
    await expect(log.publish(topic, [{ key: 'K', pad }], (r) => r.key)).rejects.toThrow(
      /record of 1200\d{3} bytes for topic .*big-.* as too large/,
    );
    await log.publish(topic, [{ key: 'K', pad: 'small' }], (r) => r.key);
    const got: string[] = [];
    const sub = await log.consume<{ pad: string }>(topic, 'g', async (b) => {
      for (const r of b.records) got.push(r.pad);
    });
    await until(() => got.length >= 1, 60_000, 'the small record');
    expect(got).toEqual(['small']);
    await sub.close();
    await log.close();
  });
});

describe('KafkaLog checkpoints', () => {
  it('restores the checkpoint written for the committed offset, not a newer one whose commit never happened', async () => {
    const log = await open();
    const topic = `ckpt-${randomUUID()}`;
    await log.publish(topic, [{ key: 'K' }, { key: 'K' }, { key: 'K' }], (r) => r.key);
    const p = partitionOf('K', await log.partitions(topic));
    let seen = 0;
    const sub = await log.consume<{ key: string }>(topic, 'g', async (b) => {
      seen += b.records.length;
    });
    await until(() => seen >= 3, 60_000, 'the three records');
    await sub.commit(p, 2, 'state-at-2');
    // A writer that died between writing its checkpoint and committing its offset:
    await log.writeCheckpoint(topic, 'g', p, { offset: 3, state: 'state-at-3' });
    await sub.close();
    expect(await log.readCheckpoint(topic, 'g', p)).toEqual({ offset: 2, state: 'state-at-2' });
    await log.close();
  });
});

describe('KafkaLog over SASL/PLAIN (the test broker’s SASL listener: port + 2)', () => {
  const [host, port] = [brokers[0]!.split(':')[0]!, Number(brokers[0]!.split(':')[1]) + 2];
  const cfg = (password?: string) => {
    const c = loadConfig({ cwd: '/', env: {} });
    c.log = {
      ...c.log,
      kind: 'kafka',
      brokers: [`${host}:${port}`],
      namespace: `sasl${randomUUID().slice(0, 6)}.`,
      sasl: { mechanism: 'PLAIN', username: 'tickline' },
    };
    return { c, env: password === undefined ? {} : { TICKLINE_KAFKA_PASSWORD: password } };
  };

  it('logs in with the password from TICKLINE_KAFKA_PASSWORD, and publishes and consumes', async () => {
    const { c, env } = cfg('tickline-test');
    const log = await openLog(c, env);
    await log.publish(
      't',
      [
        { key: 'A', n: 1 },
        { key: 'B', n: 2 },
      ],
      (r) => r.key,
    );
    const got: number[] = [];
    const sub = await log.consume<{ n: number }>('t', 'g', async (b) => {
      got.push(...b.records.map((r) => r.n));
    });
    await until(() => got.length >= 2, 60_000, 'both records');
    expect(got.sort()).toEqual([1, 2]);
    await sub.close();
    await log.close();
  });

  it('refuses to start without the password, naming the variable', async () => {
    const { c, env } = cfg();
    await expect(openLog(c, env)).rejects.toThrow(/TICKLINE_KAFKA_PASSWORD/);
  });

  it('fails a wrong password at once with the broker’s reason, instead of retrying', async () => {
    const { c, env } = cfg('wrong');
    const log = await openLog(c, env);
    await expect(log.publish('t', [{ key: 'A' }], (r) => r.key)).rejects.toThrow(
      /auth|SASL|credentials|password/i,
    );
    await log.close();
  });
});
