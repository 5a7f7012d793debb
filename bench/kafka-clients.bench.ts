/**
 * The two pure-JS Kafka clients, measured against a real local broker
 * (scripts/services/kafka/start.sh): produce (idempotent, acks=all, batched)
 * and consume in a consumer group with manual commits, on a 6-partition
 * topic of trade-sized JSON messages keyed by symbol.
 *
 *   scripts/services/kafka/start.sh && npx tsx bench/kafka-clients.bench.ts
 */
import { randomUUID } from 'node:crypto';
import {
  Admin,
  Consumer,
  MessagesStreamModes,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';

export interface ClientRow {
  client: string;
  compression: string;
  /** send() calls in flight at once. */
  inFlight: number;
  /** Messages sent, and messages the topic holds afterwards (they must be equal). */
  sent: number;
  landed: number;
  /** Messages per second. */
  produce: number;
  consume: number;
}

const SYMBOLS = Array.from({ length: 50 }, (_, i) => `SYM${i}`);
const PARTITIONS = 6;
const BATCH = 1_000;

function messages(n: number): { key: string; value: string }[] {
  const t0 = Date.UTC(2026, 0, 5, 14, 30);
  return Array.from({ length: n }, (_, i) => {
    const s = SYMBOLS[i % SYMBOLS.length]!;
    return {
      key: s,
      value: JSON.stringify({
        symbol: s,
        ts: t0 + i,
        price: 100 + (i % 1000) / 100,
        size: 1 + (i % 300),
        conditions: '1 12',
        source: 'bench',
        payload: `{"c":["1","12"],"p":${100 + (i % 1000) / 100},"s":"${s}","t":${t0 + i},"v":${1 + (i % 300)}}`,
        receivedAt: Date.now(),
      }),
    };
  });
}

async function inFlight(
  batches: number,
  concurrency: number,
  send: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < batches) await send(next++);
    }),
  );
}

async function createTopic(brokers: string[], topic: string): Promise<void> {
  const admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers: brokers });
  await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 });
  await admin.close();
}

/** Messages the topic holds: the sum of its partitions' end offsets. */
async function landed(brokers: string[], topic: string): Promise<number> {
  const c = new Consumer({
    clientId: 'bench-count',
    groupId: 'bench-count',
    bootstrapBrokers: brokers,
  });
  const ends = (await c.listOffsets({ topics: [topic] })).get(topic) ?? [];
  await c.close();
  return Number(ends.reduce((a, b) => a + b, 0n));
}

async function platformatic(
  brokers: string[],
  n: number,
  compression: 'none' | 'gzip' | 'lz4',
  concurrency: number,
): Promise<ClientRow> {
  const topic = `bench-platformatic-${randomUUID()}`;
  await createTopic(brokers, topic);
  const msgs = messages(n);
  const producer = new Producer({
    clientId: 'bench',
    bootstrapBrokers: brokers,
    serializers: stringSerializers,
    idempotent: true,
    acks: -1,
    compression,
  });
  const batches = Math.ceil(n / BATCH);
  const p0 = performance.now();
  await inFlight(batches, concurrency, (b) =>
    producer.send({
      messages: msgs.slice(b * BATCH, (b + 1) * BATCH).map((m) => ({ topic, ...m })),
    }),
  );
  const produceMs = performance.now() - p0;
  await producer.close();
  const got0 = await landed(brokers, topic);

  const consumer = new Consumer({
    clientId: 'bench',
    groupId: `bench-${randomUUID()}`,
    bootstrapBrokers: brokers,
    deserializers: stringDeserializers,
    maxWaitTime: 100,
  });
  const c0 = performance.now();
  const stream = await consumer.consume({
    topics: [topic],
    mode: MessagesStreamModes.EARLIEST,
    autocommit: false,
    maxBytesPerPartition: 4 << 20,
  });
  let got = 0;
  const last = new Map<number, bigint>();
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject);
    stream.on('data', (m) => {
      JSON.parse(m.value as string);
      last.set(m.partition, m.offset);
      if (++got % 10_000 === 0 || got === got0) {
        void consumer.commit({
          offsets: [...last].map(([partition, offset]) => ({
            topic,
            partition,
            offset: offset + 1n,
            leaderEpoch: 0,
          })),
        });
      }
      if (got === got0) resolve();
    });
  });
  const consumeMs = performance.now() - c0;
  await stream.close();
  await consumer.close(true);
  return {
    client: '@platformatic/kafka',
    compression,
    inFlight: concurrency,
    sent: n,
    landed: got0,
    produce: n / (produceMs / 1000),
    consume: got0 / (consumeMs / 1000),
  };
}

async function kafkajs(
  brokers: string[],
  n: number,
  compression: 'none' | 'gzip',
  concurrency: number,
): Promise<ClientRow> {
  const topic = `bench-kafkajs-${randomUUID()}`;
  await createTopic(brokers, topic);
  const msgs = messages(n);
  const kafka = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 5 });
  await producer.connect();
  const batches = Math.ceil(n / BATCH);
  const p0 = performance.now();
  await inFlight(batches, concurrency, (b) =>
    producer.send({
      topic,
      acks: -1,
      compression: compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
      messages: msgs.slice(b * BATCH, (b + 1) * BATCH),
    }),
  );
  const produceMs = performance.now() - p0;
  await producer.disconnect();
  const got0 = await landed(brokers, topic);

  const consumer = kafka.consumer({ groupId: `bench-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const c0 = performance.now();
  let got = 0;
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        autoCommit: false,
        partitionsConsumedConcurrently: PARTITIONS,
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) JSON.parse(m.value!.toString());
          got += batch.messages.length;
          await consumer.commitOffsets([
            {
              topic,
              partition: batch.partition,
              offset: (BigInt(batch.lastOffset()) + 1n).toString(),
            },
          ]);
          if (got >= got0) resolve();
        },
      })
      .catch(reject);
  });
  const consumeMs = performance.now() - c0;
  await consumer.disconnect();
  return {
    client: 'kafkajs',
    compression,
    inFlight: concurrency,
    sent: n,
    landed: got0,
    produce: n / (produceMs / 1000),
    consume: got0 / (consumeMs / 1000),
  };
}

export async function benchKafkaClients(brokers: string[], n: number): Promise<ClientRow[]> {
  const rows: ClientRow[] = [];
  // Alternate the clients so neither always meets a warmer broker.
  for (const compression of ['none', 'gzip'] as const) {
    rows.push(await kafkajs(brokers, n, compression, 1));
    rows.push(await platformatic(brokers, n, compression, 1));
  }
  rows.push(await platformatic(brokers, n, 'lz4', 1));
  // Several send() calls at once on one idempotent producer: the broker must still
  // hold every message exactly once.
  rows.push(await kafkajs(brokers, n, 'none', 4));
  rows.push(await platformatic(brokers, n, 'none', 4));
  return rows;
}

if (
  process.argv[1] &&
  import.meta.filename === (await import('node:fs')).realpathSync(process.argv[1])
) {
  const brokers = (process.env.TICKLINE_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
  const n = Number(process.env.BENCH_N ?? 200_000);
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  for (const r of await benchKafkaClients(brokers, n)) {
    console.log(
      `${r.client.padEnd(20)} ${r.compression.padEnd(5)} in flight ${r.inFlight}  sent ${r.sent} landed ${r.landed}  produce ${Math.round(r.produce)}/s  consume ${Math.round(r.consume)}/s`,
    );
  }
}
