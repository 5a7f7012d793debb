/**
 * One member of a Kafka consumer group, for KafkaLog.consume: a consumer,
 * its stream and a queue per partition; restores a gained partition's
 * checkpoint before delivering, drops what it fetched for a lost one, hands
 * batches to the handler under the log's delivery policy (src/log/delivery.ts),
 * and commits — plainly, or atomically with outputs in a transaction.
 */
import {
  Consumer,
  type Message,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
} from '@platformatic/kafka';
import { deliver } from '../delivery.ts';
import type {
  ConsumeOptions,
  LogBatch,
  PartitionCommit,
  PoisonRecord,
  Publication,
} from '../log.ts';
import type { KafkaLog } from './kafka-log.ts';
import { closeQuietly, type OutMessage, within } from './kafka-transactions.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Stream = Awaited<ReturnType<Consumer['consume']>>;

/** One member of a consumer group: a consumer, its stream and a queue per partition. */
export class Member {
  readonly handler: (batch: LogBatch<unknown>) => Promise<void>;
  readonly #log: KafkaLog;
  /** The log topic, and its Kafka topic. */
  readonly #topic: string;
  readonly #kafkaTopic: string;
  readonly #group: string;
  readonly #opts: ConsumeOptions;
  #consumer: Consumer | undefined;
  #stream: Stream | undefined;
  /** Fetched records not yet handled, per partition, in offset order. */
  readonly #queues = new Map<number, Message[]>();
  /** The offset this member expects next per partition (what it already handled is skipped). */
  readonly #next = new Map<number, bigint>();
  /** Bumped when a partition is lost, so a loop still running for it stops. */
  readonly #epochs = new Map<number, number>();
  readonly #loops = new Map<number, Promise<void>>();
  readonly #committed = new Map<number, number>();
  /** Restores in progress for gained partitions. */
  readonly #ready = new Map<number, Promise<void>>();
  /** Records below a restored checkpoint's offset are already in its state. */
  readonly #floor = new Map<number, bigint>();
  /** The group generation (and member) each partition's latest records were fetched in. */
  readonly #fetchedIn = new Map<number, Message['metadata']>();
  #owned = new Set<number>();
  #buffered = 0;
  #paused = false;
  #closed = false;
  #restarting = false;

  constructor(
    log: KafkaLog,
    topic: string,
    group: string,
    handler: (batch: LogBatch<unknown>) => Promise<void>,
    opts: ConsumeOptions,
  ) {
    this.#log = log;
    this.#topic = topic;
    this.#kafkaTopic = log.topicName(topic);
    this.#group = group;
    this.handler = handler;
    this.#opts = opts;
  }

  async start(): Promise<void> {
    const o = this.#log.options;
    const consumer = new Consumer({
      ...this.#log.baseOptions(`consumer-${this.#group}`),
      groupId: this.#log.groupName(this.#group, this.#topic),
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      rebalanceTimeout: Math.max(o.sessionTimeoutMs, 10_000),
      maxWaitTime: 100,
      maxBytesPerPartition: 4 << 20,
    });
    this.#consumer = consumer;
    consumer.on('consumer:group:join', (p) => {
      const mine = p.assignments?.find((a) => a.topic === this.#kafkaTopic)?.partitions ?? [];
      this.#assign(new Set(mine));
    });
    const stream = await consumer.consume({
      topics: [this.#kafkaTopic],
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
      highWaterMark: 4096,
    });
    this.#stream = stream;
    this.#paused = false;
    // The first join may have happened before the listener saw it.
    const first = consumer.assignments?.find((a) => a.topic === this.#kafkaTopic)?.partitions;
    if (first) this.#assign(new Set(first));
    stream.on('data', (m: Message) => this.#receive(m));
    stream.on('error', (err) => {
      if (this.#closed) return;
      this.#log.reportError(err, `consumer ${this.#group} on ${this.#topic}; rejoining`);
      void this.#restart(stream);
    });
    stream.on('close', () => void this.#restart(stream));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Drops a consumer whose start failed. */
  async abandon(): Promise<void> {
    if (this.#consumer) await closeQuietly(this.#consumer);
    this.#consumer = undefined;
    this.#stream = undefined;
  }

  /**
   * The stream failed (say, the broker was away longer than the client's
   * retries): give up every partition and join again with a new consumer,
   * backing off until the broker answers. Partitions then resume from their
   * commits and checkpoints.
   */
  async #restart(failed: Stream): Promise<void> {
    if (this.#closed || this.#stream !== failed || this.#restarting) return;
    this.#restarting = true;
    this.#assign(new Set());
    this.#stream = undefined;
    if (this.#consumer) await closeQuietly(this.#consumer);
    this.#consumer = undefined;
    await sleep(200);
    try {
      if (!this.#closed)
        await this.#log.startMember(this, `rejoining ${this.#group} on ${this.#topic}`);
    } catch {
      // Closed meanwhile.
    }
    this.#restarting = false;
  }

  #assign(owned: Set<number>): void {
    for (const p of owned) {
      if (this.#owned.has(p)) continue;
      // Gained: nothing of it is delivered before its state is restored.
      const onAssign = this.#opts.onAssign;
      if (onAssign) {
        const ready = (async () => {
          for (;;) {
            try {
              const cp = await this.#log.readCheckpoint(this.#topic, this.#group, p);
              await onAssign(p, cp);
              if (cp) this.#floor.set(p, BigInt(cp.offset));
              return;
            } catch (err) {
              if (this.#closed) return;
              this.#log.reportError(err, `restoring ${this.#topic}[${p}]; retrying`);
              await sleep(this.#log.options.retryMs);
            }
          }
        })();
        this.#ready.set(p, ready);
      }
    }
    for (const p of this.#owned) {
      if (owned.has(p)) continue;
      this.#opts.onRevoke?.(p);
      this.#ready.delete(p);
      this.#floor.delete(p);
      // Lost: forget what was fetched for it; the new owner starts at the commit.
      const q = this.#queues.get(p);
      this.#buffered -= q?.length ?? 0;
      this.#queues.delete(p);
      this.#next.delete(p);
      this.#fetchedIn.delete(p);
      this.#committed.delete(p);
      this.#epochs.set(p, (this.#epochs.get(p) ?? 0) + 1);
    }
    this.#owned = owned;
    this.#flow();
  }

  #receive(m: Message): void {
    const p = m.partition;
    if (!this.#owned.has(p) || this.#closed) return;
    const expected = this.#next.get(p);
    // After a rebalance the stream starts again at the committed offset: skip what was handled.
    if (expected !== undefined && m.offset < expected) return;
    this.#next.set(p, m.offset + 1n);
    this.#fetchedIn.set(p, m.metadata);
    let q = this.#queues.get(p);
    if (!q) {
      q = [];
      this.#queues.set(p, q);
    }
    q.push(m);
    this.#buffered++;
    this.#flow();
    if (!this.#loops.has(p)) this.#startLoop(p);
  }

  /** Pauses the stream while too much is fetched but not handled; resumes below half. */
  #flow(): void {
    const max = this.#log.options.maxBufferedRecords;
    if (!this.#paused && this.#buffered >= max) {
      this.#paused = true;
      this.#stream?.pause();
    } else if (this.#paused && this.#buffered < max / 2 && !this.#closed) {
      this.#paused = false;
      this.#stream?.resume();
    }
  }

  #startLoop(p: number): void {
    const epoch = this.#epochs.get(p) ?? 0;
    const maxBatch = this.#opts.maxBatch ?? 8192;
    const loop = (async () => {
      await this.#ready.get(p);
      while (!this.#closed && (this.#epochs.get(p) ?? 0) === epoch) {
        const q = this.#queues.get(p);
        const floor = this.#floor.get(p);
        if (q && floor !== undefined) {
          let skip = 0;
          while (skip < q.length && q[skip]!.offset < floor) skip++;
          if (skip > 0) {
            q.splice(0, skip);
            this.#buffered -= skip;
          }
        }
        if (!q || q.length === 0) break;
        const msgs = q.slice(0, maxBatch);
        const { batch, offsets } = await this.#decode(p, msgs);
        const o = this.#log.options;
        // Even a batch left empty by poison goes to the handler: it commits past it.
        // A record the handler fails on every time is set aside, not committed here: the
        // stage's next commit (with its checkpoint) goes past it.
        const r = await deliver(batch, {
          policy: { maxAttempts: o.maxAttempts, retryMs: o.retryMs, maxRetryMs: o.maxRetryMs },
          handler: this.handler,
          opts: this.#opts,
          active: () => !this.#closed && (this.#epochs.get(p) ?? 0) === epoch,
          report: (err, what) => this.#log.reportError(err, what),
          offsetOf: (_b, i) => offsets[i]!,
        });
        if (r === 'stopped' || (this.#epochs.get(p) ?? 0) !== epoch) return;
        q.splice(0, msgs.length);
        this.#buffered -= msgs.length;
        this.#flow();
      }
    })().finally(() => {
      this.#loops.delete(p);
      const q = this.#queues.get(p);
      if (q && q.length > 0 && !this.#closed && (this.#epochs.get(p) ?? 0) === epoch)
        this.#startLoop(p);
    });
    this.#loops.set(p, loop);
  }

  async #decode(
    p: number,
    msgs: Message[],
  ): Promise<{ batch: LogBatch<unknown>; offsets: number[] }> {
    const records: unknown[] = [];
    const offsets: number[] = [];
    const first = msgs[0]!.offset;
    const last = msgs[msgs.length - 1]!.offset;
    for (const m of msgs) {
      try {
        records.push(this.#log.codec.decode(this.#topic, m.value));
        offsets.push(Number(m.offset));
      } catch (err) {
        const poison: PoisonRecord = {
          topic: this.#topic,
          partition: p,
          offset: Number(m.offset),
          key: m.key ? m.key.toString() : null,
          timestamp: Number(m.timestamp),
          bytes: new Uint8Array(m.value ?? Buffer.alloc(0)),
          reason: (err as Error).message,
        };
        for (;;) {
          try {
            if (this.#opts.onPoison) await this.#opts.onPoison(poison);
            else {
              console.error(
                `tickline: ${this.#topic}[${p}]@${poison.offset}: cannot decode (${poison.reason}); skipped`,
              );
            }
            break;
          } catch (e) {
            this.#log.reportError(e, `${this.#topic}[${p}] poison handler; retrying`);
            await sleep(this.#log.options.retryMs);
          }
        }
      }
    }
    return {
      batch: {
        topic: this.#topic,
        partition: p,
        offset: Number(first),
        next: Number(last) + 1,
        records,
      },
      offsets,
    };
  }

  /**
   * Publishes `out`, the checkpoints and the offsets in one transaction (see
   * Subscription.commitAtomically). The offsets name the generation their
   * records were fetched in, so a member the group has moved on from is
   * fenced. On any failure the member leaves and rejoins: every partition
   * goes on from its last committed checkpoint, and nothing of the failed
   * step is read by anyone.
   */
  async commitAtomically(commits: PartitionCommit[], out: Publication[]): Promise<void> {
    if (commits.length === 0 && out.every((o) => o.records.length === 0)) return;
    const consumer = this.#consumer;
    const stream = this.#stream;
    try {
      const lost = commits.filter(
        (c) => !this.#owned.has(c.partition) || !this.#fetchedIn.has(c.partition),
      );
      if (!consumer || lost.length > 0) {
        throw new Error(
          `partitions ${lost.map((c) => c.partition).join(', ') || '(all)'} of ${this.#topic} are no longer this member's`,
        );
      }
      const messages: OutMessage[] = [];
      for (const o of out) messages.push(...(await this.#log.encodeFor(o.topic, o.records, o.key)));
      for (const c of commits) {
        messages.push(
          await this.#log.checkpointMessage(this.#topic, this.#group, c.partition, {
            offset: c.nextOffset,
            state: c.state,
          }),
        );
      }
      const offsets = commits.map(
        (c) =>
          ({
            topic: this.#kafkaTopic,
            partition: c.partition,
            offset: BigInt(c.nextOffset - 1),
            metadata: this.#fetchedIn.get(c.partition),
          }) as Message,
      );
      await this.#log.sender('commit').run(messages, { consumer, messages: offsets });
      for (const c of commits) this.#committed.set(c.partition, c.nextOffset);
    } catch (err) {
      if (this.#closed) throw err;
      this.#log.reportError(
        err,
        `atomic commit on ${this.#topic}; rejoining ${this.#group} to go on from the last commit`,
      );
      if (stream && this.#stream === stream) void this.#restart(stream);
      throw err;
    }
  }

  async commit(partition: number, nextOffset: number, state?: string): Promise<void> {
    if (!this.#owned.has(partition) || !this.#consumer) return;
    if (nextOffset < (this.#committed.get(partition) ?? -1)) return;
    if (nextOffset === this.#committed.get(partition) && state === undefined) return;
    try {
      if (state !== undefined) {
        await this.#log.writeCheckpoint(this.#topic, this.#group, partition, {
          offset: nextOffset,
          state,
        });
      }
      await this.#consumer.commit({
        offsets: [
          { topic: this.#kafkaTopic, partition, offset: BigInt(nextOffset), leaderEpoch: -1 },
        ],
      });
      if (this.#owned.has(partition)) this.#committed.set(partition, nextOffset);
    } catch (err) {
      // Typically a rebalance took the partition: its new owner gets the
      // records again from the last commit, and writes are idempotent.
      this.#log.reportError(err, `commit ${this.#topic}[${partition}]@${nextOffset}`);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled(this.#loops.values());
    if (this.#stream) await within(this.#stream.close(), 2_000);
    if (this.#consumer) await closeQuietly(this.#consumer);
  }
}
