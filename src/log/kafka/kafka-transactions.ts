/**
 * Kafka transactions, so that every topic's output holds each record once,
 * whatever fails (KIP-98 transactions with KIP-447 fencing):
 *
 * - A publish goes out in a transaction. A failure before its commit aborts
 *   it, and the records are sent again in a new one: the aborted copy is
 *   never seen by the read-committed consumers every member of this log
 *   is. (Without transactions a resend after an ambiguous failure left a
 *   second copy in the topic.)
 * - A stage that consumes and publishes (the process stage) commits its
 *   outputs, its checkpoint and its input offsets in one transaction. The
 *   offsets carry the consumer group generation the inputs were fetched in,
 *   so a member that lost its partitions (a zombie: paused, cut off, or
 *   outlived by a rebalance) is fenced by the group coordinator and its
 *   whole transaction is aborted; the partition's new owner redoes the work
 *   from the last committed checkpoint.
 *
 * One transaction runs at a time per sender (a Kafka producer holds one
 * open transaction).
 */
import type { Consumer, Message, Producer } from '@platformatic/kafka';
import { backoffMs } from '../../core/backoff.ts';
import { isTransient } from '../../core/errors.ts';

export interface OutMessage {
  topic: string;
  partition: number;
  key: Buffer;
  value: Buffer;
}

/** Consumed positions to commit with the transaction: the last handled message per partition. */
export interface TxnOffsets {
  consumer: Consumer;
  /** Each commits `offset + 1` for its partition, in the generation its metadata names. */
  messages: Message[];
}

/** A transaction whose commit could not be confirmed: it may or may not have taken effect. */
export class UncertainCommitError extends Error {}

export class TransactionalSender {
  readonly #make: () => Producer;
  readonly #report: (err: unknown, where: string) => void;
  #producer: Producer | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  readonly #maxRequestBytes: number;

  /** `make` builds a producer with this sender's fixed transactional id (a new one fences the old). */
  constructor(
    make: () => Producer,
    report: (err: unknown, where: string) => void,
    maxRequestBytes = 1_000_000,
  ) {
    this.#make = make;
    this.#report = report;
    this.#maxRequestBytes = maxRequestBytes;
  }

  /**
   * Sends `messages` and commits `offsets` as one transaction. Rejects when
   * it was aborted (nothing took effect: send again) or, rarely, when its
   * commit could not be confirmed (UncertainCommitError).
   */
  run(messages: OutMessage[], offsets?: TxnOffsets): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('kafka: the transactional sender is closed'));
    const run = this.#chain.then(() => this.#once(messages, offsets));
    this.#chain = run.catch(() => undefined);
    // A close ends every wait on it, even one a client's request never answers (broker gone).
    return Promise.race([run, this.#closing]);
  }

  #rejectAll: (err: Error) => void = () => {};
  readonly #closing = new Promise<never>((_, reject) => {
    this.#rejectAll = reject;
  });

  async #once(messages: OutMessage[], offsets?: TxnOffsets): Promise<void> {
    const fresh = this.#producer === undefined;
    this.#producer ??= this.#make();
    const producer = this.#producer;
    let tx: Awaited<ReturnType<Producer['beginTransaction']>> | undefined;
    try {
      // A new producer asks for its transactional id's session as a new one (-1): the
      // coordinator bumps the epoch, which fences any earlier producer of the id (a crashed
      // process's, or this one's before a reset) and aborts its open transaction at once.
      tx = await producer.beginTransaction(fresh ? { producerId: -1n, producerEpoch: -1 } : {});
      // In requests of at most `maxRequestBytes` (a checkpoint interval's output can be many MB;
      // the broker refuses a request past its limits).
      for (const chunk of requests(messages, this.#maxRequestBytes))
        await tx.send({ messages: chunk });
      if (offsets && offsets.messages.length > 0) {
        await tx.addConsumer(offsets.consumer);
        for (const m of offsets.messages) await tx.addOffset(m);
      }
    } catch (err) {
      await tx?.abort().catch(() => undefined);
      await this.reset();
      throw err;
    }
    // The commit is retried while the failure may pass (the coordinator away): a retried
    // commit of the same transaction is idempotent. It is never sent as a new transaction.
    for (let attempt = 1; ; attempt++) {
      try {
        await tx.commit();
        return;
      } catch (err) {
        if (this.#closed || !isTransient(err) || attempt >= 40) {
          await this.reset();
          throw new UncertainCommitError(
            `kafka: a transaction's commit could not be confirmed: ${(err as Error).message}`,
            { cause: err },
          );
        }
        const ms = backoffMs(attempt, { baseDelayMs: 100, maxDelayMs: 2_000 });
        this.#report(err, `committing a transaction (attempt ${attempt}; retrying in ${ms} ms)`);
        await new Promise((r) => setTimeout(r, ms));
      }
    }
  }

  /** Drops the producer: the next transaction starts a new one, which fences this one. */
  async reset(): Promise<void> {
    const p = this.#producer;
    this.#producer = undefined;
    if (p) await closeQuietly(p);
  }

  async close(): Promise<void> {
    // Closed first: a commit being retried gives up at its next failure.
    this.#closed = true;
    this.#closing.catch(() => undefined);
    await within(this.#chain, 1_000);
    this.#rejectAll(new Error('kafka: closed before the transaction finished'));
    await this.reset();
  }
}

/** Bytes a record adds to a produce request beyond its key and value (headers, varints). */
export const RECORD_OVERHEAD = 64;

/** Messages in runs of at most `max` bytes (a larger single message goes alone). */
function* requests(messages: OutMessage[], max: number): Generator<OutMessage[]> {
  let run: OutMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = m.key.length + m.value.length + RECORD_OVERHEAD;
    if (run.length > 0 && bytes + size > max) {
      yield run;
      run = [];
      bytes = 0;
    }
    run.push(m);
    bytes += size;
  }
  if (run.length > 0) yield run;
}

/** Waits for `p` at most `ms`; never rejects (for shutdown steps that must not hold a stop). */
export async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

/**
 * Closes a Kafka client, whatever it answers, in at most 2 s: with the broker
 * gone a client's close can wait on requests that never return.
 */
export async function closeQuietly(client: {
  close(force?: boolean): Promise<void>;
}): Promise<void> {
  let closing: Promise<void>;
  try {
    closing = client.close(true);
  } catch {
    return;
  }
  await within(closing, 2_000);
}
