/**
 * The Log over Apache Kafka, with the pure-JS client @platformatic/kafka
 * (chosen by measurement: bench/kafka-clients.bench.ts, BENCHMARKS.md).
 *
 * - Topics are created when missing, with the configured partitions and
 *   replication. A record's partition is `partitionOf(key)`, the same
 *   function the in-process log uses.
 * - Publishing goes through one idempotent producer (acks=all, compressed)
 *   with exactly one produce request in flight: everything queued meanwhile
 *   goes into the next request (batching), and a publish resolves once the
 *   broker has acknowledged its records. The queue is bounded: a publish
 *   waits while it is full. (One request in flight is also what keeps the
 *   idempotent sequence numbers right: concurrent sends on one producer lose
 *   messages in this client's 1.x line, platformatic/kafka#326.)
 * - Each consume() is one member of a consumer group. Records reach the
 *   handler in batches per partition, in offset order; offsets are committed
 *   only by Subscription.commit. A failed handler gets the same batch again.
 *   After a rebalance, a partition this member lost is dropped from its
 *   queue, and one it gained starts from the group's committed offset.
 * - A record that cannot be decoded is handed to ConsumeOptions.onPoison
 *   with its raw bytes; the partition keeps flowing.
 * - Transactions (exactlyOnce): kafka-transactions.ts. Group members:
 *   kafka-member.ts.
 */

import { randomUUID } from 'node:crypto';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import {
  Admin,
  AuthenticationError,
  Consumer,
  Producer,
  type SASLOptions,
} from '@platformatic/kafka';
import { DEFAULT_DELIVERY } from '../delivery.ts';
import {
  type Checkpoint,
  type ConsumeOptions,
  type Log,
  type LogBatch,
  type PartitionCommit,
  type Publication,
  partitionOf,
  type Subscription,
} from '../log.ts';
import { type Codec, jsonCodec } from './codec.ts';
import { Member } from './kafka-member.ts';
import {
  closeQuietly,
  type OutMessage,
  RECORD_OVERHEAD,
  TransactionalSender,
  within,
} from './kafka-transactions.ts';

export interface KafkaLogOptions {
  brokers: string[];
  clientId?: string;
  /**
   * Prefixed to every topic and consumer group, so several pipelines (or
   * test runs) share one cluster without seeing each other (default '').
   */
  namespace?: string;
  /** Partitions of topics this log creates (default 6). */
  partitions?: number;
  /** Replication factor of topics this log creates (default 1). */
  replication?: number;
  compression?: 'none' | 'gzip' | 'snappy' | 'lz4';
  /** Records queued for the producer before publish waits (default 65 536). */
  maxQueuedRecords?: number;
  /** Records per produce request, at most (default 16 384). */
  maxRequestRecords?: number;
  /**
   * Encoded bytes per produce request, at most (default 1 000 000: under the
   * broker's default message.max.bytes, which bounds each partition's batch);
   * a larger single record still goes alone.
   */
  maxRequestBytes?: number;
  /** Consumer group session timeout, ms (default 10 000; the broker bounds it). */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Records fetched but not yet handled before the consumer pauses (default 32 768). */
  maxBufferedRecords?: number;
  /** How long close() waits for queued records to reach the broker, ms (default 5000). */
  closeTimeoutMs?: number;
  /** Pause before a failed batch is delivered again, ms (default 200; doubles up to maxRetryMs). */
  retryMs?: number;
  /** The longest pause between retries of a failed batch, ms (default 5000). */
  maxRetryMs?: number;
  /**
   * Attempts of a batch whose handler fails deterministically, then of each
   * of its records alone, before a record is set aside (default 3; see
   * src/log/delivery.ts).
   */
  maxAttempts?: number;
  /**
   * Publish in Kafka transactions, and let a consuming stage commit its
   * outputs with its offsets (Subscription.commitAtomically): every topic
   * then holds each record once for its read-committed consumers, through
   * crashes, rebalances and broker restarts (default true).
   */
  exactlyOnce?: boolean;
  codec?: Codec;
  tls?: TlsOptions;
  sasl?: SASLOptions;
  /** Told when a handler throws, a commit fails or a produce request is retried. */
  onError?: (err: unknown, where: string) => void;
}

interface Pending<T> {
  /** The Kafka topic, and the log topic (for the codec). */
  topic: string;
  logical: string;
  partition: number;
  key: string;
  record: T;
}

interface Waiter {
  remaining: number;
  resolve: () => void;
  reject: (err: unknown) => void;
  failed: boolean;
}

type Resolved = Required<Omit<KafkaLogOptions, 'tls' | 'sasl' | 'codec' | 'onError'>> &
  Pick<KafkaLogOptions, 'tls' | 'sasl'>;

interface BaseClientOptions {
  clientId: string;
  bootstrapBrokers: string[];
  tls?: TlsOptions;
  sasl?: SASLOptions;
  retries: number;
  retryDelay: number;
}

/** Checkpoint topics take large records (a stage's whole state). */
const CHECKPOINT_MAX_BYTES = 64 << 20;

export class KafkaLog implements Log {
  readonly kind = 'kafka';
  readonly durable = true;
  readonly #o: Resolved;
  readonly #codec: Codec;
  readonly #onError: (err: unknown, where: string) => void;
  #admin: Admin | undefined;
  #producer: Producer | undefined;
  #reader: Consumer | undefined;
  readonly #topics = new Map<string, Promise<number>>();
  readonly #queue: { item: Pending<unknown>; waiter: Waiter; value?: Buffer }[] = [];
  #sending = false;
  /** The request being sent (its waiters fail if the log closes before the broker answers). */
  #inFlight: { waiter: Waiter }[] = [];
  readonly #roomWaiters: (() => void)[] = [];
  readonly #members = new Set<Member>();
  #closed = false;
  /** Transactions of publishes, and of stages' atomic commits (one open transaction each). */
  #senders = new Map<'publish' | 'commit', TransactionalSender>();

  constructor(opts: KafkaLogOptions) {
    if (opts.brokers.length === 0) throw new Error('log.brokers: at least one broker is needed');
    this.#o = {
      brokers: opts.brokers,
      clientId: opts.clientId ?? 'tickline',
      namespace: opts.namespace ?? '',
      partitions: opts.partitions ?? 6,
      replication: opts.replication ?? 1,
      compression: opts.compression ?? 'lz4',
      maxQueuedRecords: opts.maxQueuedRecords ?? 65_536,
      maxRequestRecords: opts.maxRequestRecords ?? 16_384,
      maxRequestBytes: opts.maxRequestBytes ?? 1_000_000,
      sessionTimeoutMs: opts.sessionTimeoutMs ?? 10_000,
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 1_000,
      maxBufferedRecords: opts.maxBufferedRecords ?? 32_768,
      retryMs: opts.retryMs ?? DEFAULT_DELIVERY.retryMs,
      maxRetryMs: opts.maxRetryMs ?? DEFAULT_DELIVERY.maxRetryMs,
      maxAttempts: opts.maxAttempts ?? DEFAULT_DELIVERY.maxAttempts,
      exactlyOnce: opts.exactlyOnce ?? true,
      closeTimeoutMs: opts.closeTimeoutMs ?? 5_000,
      tls: opts.tls,
      sasl: opts.sasl,
    };
    this.#codec = opts.codec ?? jsonCodec;
    this.#onError =
      opts.onError ??
      ((err, where) => console.error(`tickline: kafka ${where}: ${(err as Error).message}`));
  }

  /** Connection options shared by every client this log makes. */
  #base(suffix: string): BaseClientOptions {
    return {
      clientId: `${this.#o.clientId}-${suffix}`,
      bootstrapBrokers: this.#o.brokers,
      ...(this.#o.tls ? { tls: this.#o.tls } : {}),
      ...(this.#o.sasl ? { sasl: this.#o.sasl } : {}),
      retries: 10,
      retryDelay: 250,
    };
  }

  #adminClient(): Admin {
    this.#admin ??= new Admin(this.#base('admin'));
    return this.#admin;
  }

  /** The Kafka topic of a log topic. */
  topicName(topic: string): string {
    return `${this.#o.namespace}${topic}`;
  }

  /** The Kafka consumer group of a log group on a topic (a log group is per topic). */
  groupName(group: string, topic: string): string {
    return `${this.#o.namespace}${group}.${topic}`;
  }

  /** The Kafka topic that keeps a group's checkpoints for a topic, partition for partition. */
  checkpointTopicName(topic: string, group: string): string {
    return `${this.groupName(group, topic)}.checkpoints`;
  }

  /** Creates the topic when it is missing; resolves to its partition count. */
  partitions(topic: string): Promise<number> {
    return this.#partitionsOf(this.topicName(topic));
  }

  #partitionsOf(topic: string, like?: number): Promise<number> {
    let p = this.#topics.get(topic);
    if (!p) {
      p = this.#retrying(`creating or reading topic ${topic}`, () =>
        this.#ensureTopic(topic, like),
      );
      this.#topics.set(topic, p);
      p.catch(() => this.#topics.delete(topic));
    }
    return p;
  }

  /**
   * Runs `work` until it succeeds, reporting each failure and backing off
   * (the broker may be restarting); gives up only when the log is closed.
   */
  async #retrying<T>(what: string, work: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await work();
      } catch (err) {
        if (this.#closed) throw err;
        const refused = authFailure(err) ?? tlsFailure(err);
        if (refused) throw refused;
        this.#onError(err, `${what} (attempt ${attempt + 1}; retrying)`);
        await sleep(Math.min(5_000, 200 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random()));
      }
    }
  }

  /** Joins a member to its group, retrying while the broker is away. */
  async startMember(
    member: { start(): Promise<void>; abandon(): Promise<void> },
    what: string,
  ): Promise<void> {
    await this.#retrying(what, async () => {
      try {
        await member.start();
      } catch (err) {
        await member.abandon();
        throw err;
      }
    });
  }

  /** `like`: a checkpoint topic, made with that many partitions and room for large records. */
  async #ensureTopic(topic: string, like?: number): Promise<number> {
    const admin = this.#adminClient();
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) {
      try {
        await admin.createTopics({
          topics: [topic],
          partitions: like ?? this.#o.partitions,
          replicas: this.#o.replication,
          ...(like === undefined
            ? {}
            : {
                configs: [
                  { name: 'max.message.bytes', value: String(CHECKPOINT_MAX_BYTES) },
                  { name: 'retention.ms', value: String(7 * 86_400_000) },
                ],
              }),
        });
      } catch (err) {
        // Another process may have created it meanwhile.
        if (!(await admin.listTopics()).includes(topic)) throw err;
      }
    }
    const md = await admin.metadata({ topics: [topic], forceUpdate: true });
    const count = md.topics.get(topic)?.partitionsCount;
    if (!count) throw new Error(`kafka topic ${topic} has no partitions`);
    return count;
  }

  publish<T>(topic: string, records: readonly T[], key: (record: T) => string): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`log is closed; cannot publish to ${topic}`));
    if (records.length === 0) return Promise.resolve();
    // Admission runs in call order, so a publish never overtakes an earlier one that waits for
    // room or metadata (per-key order holds for callers that do not await each publish); the
    // returned promise waits for the broker's acknowledgement.
    const admitted = this.#admission.then(() => this.#admit(topic, records, key));
    this.#admission = admitted.then(
      () => undefined,
      () => undefined,
    );
    return admitted.then((a) => a.acked);
  }

  #admission: Promise<void> = Promise.resolve();

  async #admit<T>(
    topic: string,
    records: readonly T[],
    key: (record: T) => string,
  ): Promise<{ acked: Promise<void> }> {
    const name = this.topicName(topic);
    const n = await this.#partitionsOf(name);
    while (this.#queue.length >= this.#o.maxQueuedRecords) {
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
      if (this.#closed) throw new Error(`log is closed; cannot publish to ${topic}`);
    }
    // Wrapped: an async function would otherwise wait for the acknowledgement itself.
    return {
      acked: this.#enqueue(
        records.map((record) => {
          const k = key(record);
          return { topic: name, logical: topic, partition: partitionOf(k, n), key: k, record };
        }),
      ),
    };
  }

  /** Queues records for the producer; resolves once the broker has acknowledged all of them. */
  #enqueue(items: Pending<unknown>[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { remaining: items.length, resolve, reject, failed: false };
      for (const item of items) this.#queue.push({ item, waiter });
      void this.#pump();
    });
  }

  /** Stores a member's checkpoint for `partition` (acknowledged by the broker before it resolves). */
  async writeCheckpoint(
    topic: string,
    group: string,
    partition: number,
    cp: Checkpoint,
  ): Promise<void> {
    const ck = this.checkpointTopicName(topic, group);
    await this.#partitionsOf(ck, await this.partitions(topic));
    await this.#enqueue([
      { topic: ck, logical: ck, partition, key: String(partition), record: cp },
    ]);
  }

  /**
   * The checkpoint that goes with the group's committed offset of
   * `partition`: the newest one written for exactly that offset. (A newer
   * one whose commit did not happen, because the writer died or lost the
   * partition in between, is ignored.)
   */
  async readCheckpoint(
    topic: string,
    group: string,
    partition: number,
  ): Promise<Checkpoint | null> {
    const admin = this.#adminClient();
    const groups = await admin.listConsumerGroupOffsets({
      groups: [
        {
          groupId: this.groupName(group, topic),
          topics: [{ name: this.topicName(topic), partitionIndexes: [partition] }],
        },
      ],
    });
    const committed = groups[0]?.topics[0]?.partitions.find((p) => p.partitionIndex === partition);
    if (!committed || committed.committedOffset < 0n) return null;
    const want = Number(committed.committedOffset);
    const ck = this.checkpointTopicName(topic, group);
    await this.#partitionsOf(ck, await this.partitions(topic));
    const md = await admin.metadata({ topics: [ck] });
    const meta = md.topics.get(ck);
    const leader = meta?.partitions[partition]?.leader;
    if (!meta || leader === undefined) return null;
    const [ends] = await admin.listOffsets({
      topics: [{ name: ck, partitions: [{ partitionIndex: partition, timestamp: -1n }] }],
    });
    const end = ends?.partitions[0]?.offset ?? 0n;
    let to = end;
    for (let span = 16n; to > 0n; span *= 16n) {
      const from = to > span ? to - span : 0n;
      const found = await this.#scanCheckpoints(meta.id, leader, partition, from, to, want);
      if (found) return found;
      to = from;
    }
    return null;
  }

  /** Reads checkpoint records [from, to) of one partition; the newest for offset `want`. */
  async #scanCheckpoints(
    topicId: string,
    leader: number,
    partition: number,
    from: bigint,
    to: bigint,
    want: number,
  ): Promise<Checkpoint | null> {
    this.#reader ??= new Consumer({
      ...this.#base('checkpoints'),
      groupId: `${this.#o.clientId}-checkpoints`,
    });
    let found: Checkpoint | null = null;
    let at = from;
    while (at < to) {
      const res = await this.#reader.fetch({
        node: leader,
        maxWaitTime: 0,
        minBytes: 1,
        maxBytes: CHECKPOINT_MAX_BYTES * 2,
        topics: [
          {
            topicId,
            partitions: [
              {
                partition,
                fetchOffset: at,
                currentLeaderEpoch: -1,
                lastFetchedEpoch: -1,
                partitionMaxBytes: CHECKPOINT_MAX_BYTES * 2,
              },
            ],
          },
        ],
      });
      const batches = res.responses[0]?.partitions[0]?.records ?? [];
      let next = at;
      for (const b of batches) {
        for (const r of b.records) {
          const offset = b.firstOffset + BigInt(r.offsetDelta);
          if (offset < at || offset >= to) continue;
          try {
            const cp = JSON.parse(r.value?.toString('utf8') ?? '') as Checkpoint;
            if (cp.offset === want) found = cp;
          } catch {
            // Not a checkpoint of ours: skip it.
          }
        }
        next = b.firstOffset + BigInt(b.lastOffsetDelta) + 1n;
      }
      if (next <= at) break;
      at = next;
    }
    return found;
  }

  /** The transactional sender for `purpose`, with a transactional id fixed for this log's life. */
  sender(purpose: 'publish' | 'commit'): TransactionalSender {
    let t = this.#senders.get(purpose);
    if (!t) {
      const transactionalId = `${this.#o.clientId}-${purpose}-${randomUUID()}`;
      t = new TransactionalSender(
        () =>
          new Producer({
            ...this.#base(`${purpose}-tx`),
            // The next transaction's first request meets CONCURRENT_TRANSACTIONS until the
            // broker has written the previous one's markers (a few ms): retry it soon, as
            // Kafka's own client does (20 ms), not after the default 250 ms.
            retries: 100,
            retryDelay: 20,
            idempotent: true,
            transactionalId,
            acks: -1,
            compression: this.#o.compression,
          }),
        (err, where) => this.#onError(err, where),
        this.#o.maxRequestBytes,
      );
      this.#senders.set(purpose, t);
    }
    return t;
  }

  /** Encodes records for a transaction, each to the partition of its key. */
  async encodeFor(
    topic: string,
    records: readonly unknown[],
    key: (r: never) => string,
  ): Promise<OutMessage[]> {
    const name = this.topicName(topic);
    const n = await this.partitions(topic);
    return records.map((r) => {
      const k = (key as (r: unknown) => string)(r);
      return {
        topic: name,
        partition: partitionOf(k, n),
        key: Buffer.from(k),
        value: this.#codec.encode(topic, r),
      };
    });
  }

  /** A checkpoint as a message of its checkpoint topic (for a transaction). */
  async checkpointMessage(
    topic: string,
    group: string,
    partition: number,
    cp: Checkpoint,
  ): Promise<OutMessage> {
    const ck = this.checkpointTopicName(topic, group);
    await this.#partitionsOf(ck, await this.partitions(topic));
    return {
      topic: ck,
      partition,
      key: Buffer.from(String(partition)),
      value: this.#codec.encode(ck, cp),
    };
  }

  #producerClient(): Producer {
    this.#producer ??= new Producer({
      ...this.#base('producer'),
      idempotent: true,
      acks: -1,
      compression: this.#o.compression,
    });
    return this.#producer;
  }

  /** Sends the queue, one produce request at a time, until it is empty. */
  async #pump(): Promise<void> {
    if (this.#sending) return;
    this.#sending = true;
    try {
      while (this.#queue.length > 0) {
        // One request: records in queue order up to the record and byte limits. Records queued
        // while a request is in flight pile up, and the broker refuses a partition's batch over
        // message.max.bytes (retrying that would never succeed), so bytes bound it too.
        const chunk: { waiter: Waiter }[] = [];
        const messages: { topic: string; partition: number; key: Buffer; value: Buffer }[] = [];
        let bytes = 0;
        while (this.#queue.length > 0 && chunk.length < this.#o.maxRequestRecords) {
          const next = this.#queue[0]!;
          if (!next.value) {
            try {
              next.value = this.#codec.encode(next.item.logical, next.item.record);
            } catch (err) {
              this.#queue.shift();
              fail(next.waiter, err);
              continue;
            }
          }
          const key = Buffer.from(next.item.key);
          const size = next.value.length + key.length + RECORD_OVERHEAD;
          if (chunk.length > 0 && bytes + size > this.#o.maxRequestBytes) break;
          this.#queue.shift();
          bytes += size;
          chunk.push(next);
          messages.push({
            topic: next.item.topic,
            partition: next.item.partition,
            key,
            value: next.value,
          });
        }
        for (const w of this.#roomWaiters.splice(0)) w();
        if (chunk.length > 0) {
          this.#inFlight = chunk;
          await this.#send(messages, chunk);
          this.#inFlight = [];
        }
      }
    } finally {
      this.#sending = false;
    }
  }

  async #send(
    messages: { topic: string; partition: number; key: Buffer; value: Buffer }[],
    chunk: { waiter: Waiter }[],
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (this.#o.exactlyOnce) await this.sender('publish').run(messages);
        else await this.#producerClient().send({ messages });
        for (const { waiter } of chunk) {
          if (--waiter.remaining === 0 && !waiter.failed) waiter.resolve();
        }
        return;
      } catch (err) {
        const refused = authFailure(err) ?? tooLarge(err, messages);
        if (this.#closed || refused) {
          for (const { waiter } of chunk) fail(waiter, refused ?? err);
          return;
        }
        // The broker is away or the producer's session is broken: start a new
        // producer (a new session) and send the same request again after a
        // backoff. In a transaction (exactlyOnce) the failed one was aborted,
        // so its records are never read; without, a request that did land
        // before the error is then stored twice in the topic (consumers'
        // writes are idempotent).
        this.#onError(err, `produce (attempt ${attempt + 1}; retrying)`);
        const old = this.#producer;
        this.#producer = undefined;
        if (old) await closeQuietly(old);
        await sleep(Math.min(5_000, 100 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random()));
      }
    }
  }

  async consume<T>(
    topic: string,
    group: string,
    handler: (batch: LogBatch<T>) => Promise<void>,
    opts: ConsumeOptions = {},
  ): Promise<Subscription> {
    await this.partitions(topic);
    const member = new Member(this, topic, group, handler as Member['handler'], opts);
    this.#members.add(member);
    await this.startMember(member, `joining ${group} on ${topic}`);
    return {
      commit: (partition, nextOffset, state) => member.commit(partition, nextOffset, state),
      ...(this.#o.exactlyOnce
        ? {
            commitAtomically: (commits: PartitionCommit[], out: Publication[]) =>
              member.commitAtomically(commits, out),
          }
        : {}),
      close: async () => {
        this.#members.delete(member);
        await member.close();
      },
    };
  }

  async lag(topic: string, group: string): Promise<number> {
    const admin = this.#adminClient();
    const n = await this.partitions(topic);
    const name = this.topicName(topic);
    const parts = Array.from({ length: n }, (_, i) => i);
    const [ends, starts, groups] = await Promise.all([
      admin.listOffsets({
        topics: [
          {
            name,
            partitions: parts.map((partitionIndex) => ({ partitionIndex, timestamp: -1n })),
          },
        ],
      }),
      admin.listOffsets({
        topics: [
          {
            name,
            partitions: parts.map((partitionIndex) => ({ partitionIndex, timestamp: -2n })),
          },
        ],
      }),
      admin.listConsumerGroupOffsets({
        groups: [
          { groupId: this.groupName(group, topic), topics: [{ name, partitionIndexes: parts }] },
        ],
      }),
    ]);
    const committed = new Map<number, bigint>();
    for (const t of groups[0]?.topics ?? []) {
      for (const p of t.partitions) committed.set(p.partitionIndex, p.committedOffset);
    }
    const start = new Map(starts[0]?.partitions.map((p) => [p.partitionIndex, p.offset]) ?? []);
    let lag = 0n;
    for (const p of ends[0]?.partitions ?? []) {
      const c = committed.get(p.partitionIndex) ?? -1n;
      const from = c >= 0n ? c : (start.get(p.partitionIndex) ?? 0n);
      if (p.offset <= from) continue;
      // Transactions end with a marker that takes an offset but is no record: a group that
      // consumed everything sits just before the markers. Count the span only if it holds
      // records a read-committed consumer would get.
      if (
        this.#o.exactlyOnce &&
        !(await this.#holdsRecords(name, p.partitionIndex, from, p.offset))
      )
        continue;
      lag += p.offset - from;
    }
    return Number(lag);
  }

  /** Whether [from, to) of a partition holds committed records (not only transaction markers). */
  async #holdsRecords(name: string, partition: number, from: bigint, to: bigint): Promise<boolean> {
    const md = await this.#adminClient().metadata({ topics: [name] });
    const meta = md.topics.get(name);
    const leader = meta?.partitions[partition]?.leader;
    if (!meta || leader === undefined) return true;
    this.#reader ??= new Consumer({
      ...this.#base('checkpoints'),
      groupId: `${this.#o.clientId}-checkpoints`,
    });
    for (let at = from; at < to; ) {
      const res = await this.#reader.fetch({
        node: leader,
        maxWaitTime: 0,
        minBytes: 1,
        maxBytes: 1 << 20,
        isolationLevel: 1,
        topics: [
          {
            topicId: meta.id,
            partitions: [
              {
                partition,
                fetchOffset: at,
                currentLeaderEpoch: -1,
                lastFetchedEpoch: -1,
                partitionMaxBytes: 1 << 20,
              },
            ],
          },
        ],
      });
      const part = res.responses[0]?.partitions[0];
      // Kafka's read-committed filtering: a producer's batches from the first offset of one
      // of its aborted transactions up to its next marker are that transaction's.
      const aborted = [...(part?.abortedTransactions ?? [])].sort((a, b) =>
        a.firstOffset < b.firstOffset ? -1 : 1,
      );
      const open = new Set<bigint>();
      let next = at;
      for (const b of part?.records ?? []) {
        while (aborted.length > 0 && aborted[0]!.firstOffset <= b.firstOffset) {
          open.add(aborted.shift()!.producerId);
        }
        const end = b.firstOffset + BigInt(b.lastOffsetDelta) + 1n;
        if ((b.attributes & 0x20) !== 0) open.delete(b.producerId);
        else if (!open.has(b.producerId) && end > from) return true;
        next = end;
      }
      // Nothing readable from here, yet offsets up to `to` exist: an open transaction holds
      // them back (its records may still be committed). That is lag, not the end.
      if (next <= at) return true;
      at = next;
    }
    return false;
  }

  /** @internal: for members. */
  get options(): Resolved {
    return this.#o;
  }
  /** @internal */
  get codec(): Codec {
    return this.#codec;
  }
  /** @internal */
  baseOptions(suffix: string): BaseClientOptions {
    return this.#base(suffix);
  }
  /** @internal */
  reportError(err: unknown, where: string): void {
    this.#onError(err, where);
  }

  async close(opts: { now?: boolean } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = this.#close(opts.now ? 0 : this.#o.closeTimeoutMs);
    return this.#closing;
  }

  #closing: Promise<void> | undefined;

  async #close(waitMs: number): Promise<void> {
    // Let what is queued reach the broker before the producer goes, for as long as
    // closeTimeoutMs: a broker that is away must not hold a stopping process for ever.
    const t0 = Date.now();
    while ((this.#queue.length > 0 || this.#sending) && Date.now() - t0 < waitMs) {
      await sleep(5);
    }
    this.#closed = true;
    if (this.#queue.length > 0 || this.#inFlight.length > 0) {
      const left = [...this.#inFlight.splice(0), ...this.#queue.splice(0)];
      const err = new Error(
        `kafka: closed with ${left.length} records not delivered (the broker did not take them within ${waitMs} ms)`,
      );
      this.#onError(err, 'close');
      for (const q of left) fail(q.waiter, err);
    }
    for (const w of this.#roomWaiters.splice(0)) w();
    await Promise.all([...this.#members].map((m) => m.close()));
    this.#members.clear();
    await Promise.all([
      this.#producer ? closeQuietly(this.#producer) : undefined,
      ...[...this.#senders.values()].map((t) => t.close()),
      this.#reader ? closeQuietly(this.#reader) : undefined,
      this.#admin ? within(this.#admin.close(), 2_000) : undefined,
    ]);
  }
}

/** The first error in `err`'s causes and aggregated errors (depth-first) that `match` accepts. */
function findError(err: unknown, match: (e: object) => boolean, depth = 0): object | null {
  if (!err || typeof err !== 'object' || depth > 6) return null;
  if (match(err)) return err;
  const e = err as { cause?: unknown; errors?: unknown[] };
  for (const inner of [e.cause, ...(Array.isArray(e.errors) ? e.errors : [])]) {
    const found = findError(inner, match, depth + 1);
    if (found) return found;
  }
  return null;
}

/** A refused login, anywhere in an error's causes: retrying cannot help. */
function authFailure(err: unknown): Error | null {
  const found = findError(err, (e) => e instanceof AuthenticationError);
  if (!(found instanceof AuthenticationError)) return null;
  return new Error(
    `Kafka refused the login (${found.message}${found.cause instanceof Error ? ` ${found.cause.message}` : ''}): check log.sasl and TICKLINE_KAFKA_PASSWORD`,
  );
}

/** Node's codes for a certificate the client does not accept (TLS verification). */
const TLS_VERIFY_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A broker certificate the client refuses, anywhere in an error's causes: retrying cannot help. */
function tlsFailure(err: unknown): Error | null {
  const found = findError(err, (e) => TLS_VERIFY_CODES.has(String((e as { code?: unknown }).code)));
  if (!found) return null;
  return new Error(
    `Kafka's TLS certificate was not accepted (${(found as Error).message}): check log.ssl.caFile, the CA that signed the brokers' certificates, and that the broker's name is in its certificate`,
  );
}

/** A record the broker will never take (over message.max.bytes): retrying cannot help. */
function tooLarge(
  err: unknown,
  messages: readonly { topic: string; key: Buffer; value: Buffer }[],
): Error | null {
  const found = findError(err, (e) => {
    const id = (e as { apiId?: unknown }).apiId;
    return id === 'MESSAGE_TOO_LARGE' || id === 'RECORD_LIST_TOO_LARGE';
  });
  if (!found) return null;
  const biggest = messages.reduce((a, m) => (m.value.length > a.value.length ? m : a));
  return new Error(
    `Kafka refused a record of ${biggest.value.length} bytes for topic ${biggest.topic} as too large (the broker's message.max.bytes, or the topic's max.message.bytes)`,
  );
}

function fail(w: Waiter, err: unknown): void {
  if (!w.failed) {
    w.failed = true;
    w.reject(err);
  }
}

/** Closes a client without waiting for what it still has in flight, ignoring errors. */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
