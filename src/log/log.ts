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
  bytes: Uint8Array;
  reason: string;
}

export interface ConsumeOptions {
  /** Most records per batch (default 8192). */
  maxBatch?: number;
  /**
   * Told about each record that cannot be decoded, before the batch it was
   * taken out of is handled; the partition keeps flowing. Without it such a
   * record is reported on stderr and skipped.
   */
  onPoison?: (record: PoisonRecord) => Promise<void>;
}

/** One member of a consumer group. */
export interface Subscription {
  /**
   * Marks every record of `partition` before `nextOffset` as done for the
   * group. Call it after the records' effects are stored.
   */
  commit(partition: number, nextOffset: number): Promise<void>;
  /** Leaves the group after the batch in progress; its partitions go to the other members. */
  close(): Promise<void>;
}

export interface Log {
  /** Which implementation this is (`memory`, `kafka`). */
  readonly kind: string;
  /**
   * Appends records, each to the partition of its key. Resolves once they
   * are accepted; while a partition is full (its slowest group is too far
   * behind) it waits: backpressure, not memory growth.
   */
  publish<T>(topic: string, records: readonly T[], key: (record: T) => string): Promise<void>;
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
  /** Records of `topic` published but not yet committed by `group`. */
  lag(topic: string, group: string): Promise<number>;
  /** Stops every consumer and releases resources. */
  close(): Promise<void>;
}

/** The partition of a key: FNV-1a of its UTF-16 code units, modulo the partition count. */
export function partitionOf(key: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % partitions;
}
