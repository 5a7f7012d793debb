/**
 * The Log contract against a real Kafka broker (scripts/services/kafka/start.sh;
 * TICKLINE_KAFKA_BROKERS, default 127.0.0.1:19092). `.ci/run` starts the broker.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Producer } from '@platformatic/kafka';
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
