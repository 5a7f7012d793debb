/**
 * The log: a durable (in the Kafka implementation), ordered hand-off between
 * stages. Topics are split into partitions; a record's key (the symbol)
 * picks its partition, so records of one key stay in order. Consumers join a
 * group: the group's members share the partitions, every group sees every
 * record, and a group's position moves only when it commits — after the
 * store write — so a record that was delivered but not committed is
 * delivered again (to whichever member owns its partition next).
 */

/** The topics of the live path. */
export const TOPICS = {
  rawTrades: 'tickline.trades.raw',
  trades: 'tickline.trades',
  quarantine: 'tickline.quarantine',
  bars: 'tickline.bars',
  /** Provider responses behind live records (a gap fill's candles), for the raw layer. */
  raw: 'tickline.raw',
} as const;

/** Records of one partition, delivered together. */
export interface LogBatch<T> {
  topic: string;
  partition: number;
  /** Offset of `records[0]`. */
  offset: number;
  /**
   * The offset after the batch: commit it once the batch is done. It is
   * `offset + records.length` unless records that could not be decoded were
   * taken out of the batch (see ConsumeOptions.onPoison).
   */
  next: number;
  records: T[];
}

/** A record a consumer could not decode: its raw bytes and why. */
export interface PoisonRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  /** When the log took the record (epoch ms): the same on every redelivery. */
  timestamp: number;
  bytes: Uint8Array;
  reason: string;
}

export interface ConsumeOptions {
  /** Most records per batch (default 8192; by `publish`'s weight in the in-process log). */
  maxBatch?: number;
  /**
   * Told about each record that cannot be decoded, before the batch it was
   * taken out of is handled; the partition keeps flowing. Without it such a
   * record is reported on stderr and skipped.
   */
  onPoison?: (record: PoisonRecord) => Promise<void>;
  /**
   * Told when this member gains a partition, with the state committed with
   * the group's offset there (see Subscription.commit), before any batch of
   * it; delivery starts at that state's offset. A stage whose work spans
   * batches (open windows) restores its state here, so a partition that
   * changes hands continues exactly where the last checkpoint left it.
   */
  onAssign?: (partition: number, checkpoint: Checkpoint | null) => void | Promise<void>;
  /** Told when this member loses a partition (it must forget its state). */
  onRevoke?: (partition: number) => void;
  /**
   * Told about a record the handler failed on every time (src/log/delivery.ts:
   * not a transient failure, `maxAttempts` attempts alone); the partition
   * then moves on past it. The stage quarantines it. Without it such a
   * record is reported on stderr and skipped.
   */
  onUnprocessable?: (record: UnprocessableRecord) => Promise<void>;
}

/** A decoded record its handler fails on deterministically. */
export interface UnprocessableRecord {
  topic: string;
  partition: number;
  offset: number;
  record: unknown;
  /** The handler's error, as one line. */
  error: string;
  attempts: number;
}

/** A stage's state as of an offset, committed together with that offset. */
export interface Checkpoint {
  /** The offset the state covers up to (the next record to handle). */
  offset: number;
  state: string;
}

/** A partition's offset and state, for Subscription.commitAtomically. */
export interface PartitionCommit {
  partition: number;
  nextOffset: number;
  state: string;
}

/** Records to publish to a topic, each to the partition of its key. */
export interface Publication {
  topic: string;
  records: readonly unknown[];
  // biome-ignore lint/suspicious/noExplicitAny: each publication's records are of one type, which the caller's key function knows
  key: (record: any) => string;
  /** How many records one stands for (see Log.publish). */
  // biome-ignore lint/suspicious/noExplicitAny: as `key`
  weight?: (record: any) => number;
}

/** One member of a consumer group. */
export interface Subscription {
  /**
   * Marks every record of `partition` before `nextOffset` as done for the
   * group. Call it after the records' effects are stored. With `state`, the
   * state is kept with the offset and handed to the partition's next owner
   * (ConsumeOptions.onAssign); the two are kept together, so a crash between
   * them leaves the previous pair in force.
   */
  commit(partition: number, nextOffset: number, state?: string): Promise<void>;
  /**
   * Only on logs with transactions (Kafka with `exactlyOnce`): publishes
   * `out` and commits each partition's offset with its state as one atomic
   * step. Consumers see the records if and only if the commit holds; a
   * member that no longer owns a partition is fenced and the whole step is
   * aborted (it then rejoins its group, and each partition goes on from its
   * last committed state). So a stage that publishes what it consumed puts
   * each output into the log once, whatever fails.
   */
  commitAtomically?(commits: PartitionCommit[], out: Publication[]): Promise<void>;
  /** Leaves the group after the batch in progress; its partitions go to the other members. */
  close(): Promise<void>;
}

export interface Log {
  /** Which implementation this is (`memory`, `kafka`). */
  readonly kind: string;
  /**
   * Whether records outlive this process. A durable log lets a stage commit
   * less often (with checkpoints); a non-durable one frees a partition's
   * room only on commit, so stages commit every batch.
   */
  readonly durable: boolean;
  /**
   * Appends records, each to the partition of its key. Resolves once they
   * are accepted; while a partition is full (its slowest group is too far
   * behind) it waits: backpressure, not memory growth. Records of successive
   * calls land in call order per key, even when a call is made before the
   * previous one resolved. `weight` says how many records one stands for (a chunk of trades):
   * the in-process log bounds its queues and batches by it; a broker's log ignores it.
   */
  publish<T>(
    topic: string,
    records: readonly T[],
    key: (record: T) => string,
    weight?: (record: T) => number,
  ): Promise<void>;
  /**
   * Joins `group` on `topic`. The handler gets one batch at a time per
   * partition, in offset order; batches of different partitions may run
   * concurrently. Commits are explicit (see Subscription.commit).
   */
  consume<T>(
    topic: string,
    group: string,
    handler: (batch: LogBatch<T>) => Promise<void>,
    opts?: ConsumeOptions,
  ): Promise<Subscription>;
  /**
   * Records of `topic` published but not yet committed by `group` (a span of offsets: over
   * Kafka with transactions it also counts the commit markers in it; 0 when nothing is left).
   */
  lag(topic: string, group: string): Promise<number>;
  /**
   * Stops every consumer and releases resources. A durable log first lets
   * what is queued reach the broker (for a bounded time); `now` skips that
   * wait (a stop past its drain timeout: what is queued is reported lost).
   */
  close(opts?: { now?: boolean }): Promise<void>;
}

/**
 * The partition of a key: Kafka's default partitioner, murmur2 of the key's
 * UTF-8 bytes (positive) modulo the partition count, so a symbol lands on
 * the partition any Kafka client keyed by it would choose. (Until this
 * release it was FNV-1a, whose low bits mix short keys poorly: AAPL, MSFT
 * and TSLA all fell on partition 1 of 6. bench/partitioner.ts measures both
 * on real symbol sets; docs/kafka.md has the figures.)
 */
export function partitionOf(key: string, partitions: number): number {
  return murmur2(key) % partitions;
}

/** Kafka's murmur2 of a key's UTF-8 bytes (org.apache.kafka.common.utils.Utils.murmur2 & 0x7fffffff). */
export function murmur2(key: string): number {
  // Symbols are ASCII, whose UTF-16 code units are their UTF-8 bytes: no buffer needed.
  for (let i = 0; i < key.length; i++) {
    if (key.charCodeAt(i) > 0x7f) return murmur2Bytes(Buffer.from(key, 'utf8'));
  }
  return murmur2Of((i) => key.charCodeAt(i), key.length);
}

/** murmur2 of bytes. */
export function murmur2Bytes(bytes: ArrayLike<number>): number {
  return murmur2Of((i) => bytes[i]!, bytes.length);
}

function murmur2Of(at: (i: number) => number, len: number): number {
  const m = 0x5bd1e995;
  let h = 0x9747b28c ^ len;
  const n4 = len >> 2;
  for (let i = 0; i < n4; i++) {
    const o = i * 4;
    let k = at(o) | (at(o + 1) << 8) | (at(o + 2) << 16) | (at(o + 3) << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const o = n4 * 4;
  const rest = len & 3;
  if (rest === 3) h ^= at(o + 2) << 16;
  if (rest >= 2) h ^= at(o + 1) << 8;
  if (rest >= 1) {
    h ^= at(o);
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h & 0x7fffffff;
}
