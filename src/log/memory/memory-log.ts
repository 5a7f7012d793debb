/**
 * The in-process log: bounded queues per partition in this process's memory.
 * It keeps a record until every group on its topic has committed it (records
 * of a topic no group consumes are not kept), and a publish waits while the
 * topic holds more than `capacity` records per partition, counted over the
 * whole topic: one busy key gets the room of all partitions, so a single
 * symbol is not held to a quarter of the buffering ten get. Nothing survives the
 * process: the embedded pipeline bounds what a hard kill can lose by
 * committing (storing) at least every flush interval.
 */

import { errorMessage } from '../../core/errors.ts';
import { DEFAULT_DELIVERY, type DeliveryPolicy, deliver } from '../delivery.ts';
import {
  type Checkpoint,
  type ConsumeOptions,
  type Log,
  type LogBatch,
  partitionOf,
  type Subscription,
} from '../log.ts';

interface Partition {
  /** Offset of records[head]. */
  base: number;
  records: unknown[];
  /** What each record stands for against the bound (`publish`'s weight; 1 without one). */
  weights: number[];
  head: number;
  /** Wakes consumers waiting for records. */
  dataWaiters: (() => void)[];
}

interface Member {
  handler: (batch: LogBatch<unknown>) => Promise<void>;
  opts: ConsumeOptions;
  maxBatch: number;
  owned: Set<number>;
  closed: boolean;
  /** In-flight loops, one per owned partition. */
  loops: Map<number, Promise<void>>;
}

interface Group {
  committed: number[];
  /** The state committed with each partition's offset, if any. */
  states: (Checkpoint | null)[];
  members: Member[];
}

interface Topic {
  name: string;
  partitions: Partition[];
  groups: Map<string, Group>;
  /** Records held over all partitions, and publishers waiting for room. */
  held: number;
  spaceWaiters: (() => void)[];
}

export interface MemoryLogOptions {
  /** Partitions per topic (default 4). */
  partitions?: number;
  /**
   * Records per partition a topic holds before publishers wait (default 65 536): the topic
   * holds at most `capacity × partitions`, however its keys spread over the partitions.
   */
  capacity?: number;
  /**
   * Called when a handler throws, with what happens next (src/log/delivery.ts:
   * transient failures are retried with backoff for as long as they last;
   * others `maxAttempts` times, then record by record, and a record that
   * fails alone is set aside).
   */
  onError?: (err: unknown, what: string) => void;
  /** The first pause before a retry (default 200 ms); it doubles up to `maxRetryMs` (5000). */
  retryMs?: number;
  maxRetryMs?: number;
  /** Attempts of a deterministic failure, per batch and then per record (default 3). */
  maxAttempts?: number;
}

/** Keys given partitions in turn; past this many, keys are hashed. */
const MAX_STICKY = 100_000;

const end = (p: Partition): number => p.base + p.records.length - p.head;
const wake = (waiters: (() => void)[]): void => {
  for (const w of waiters.splice(0)) w();
};

export class MemoryLog implements Log {
  readonly kind = 'memory';
  readonly durable = false;
  readonly #partitions: number;
  readonly #capacity: number;
  readonly #topics = new Map<string, Topic>();
  readonly #onError: NonNullable<MemoryLogOptions['onError']>;
  readonly #policy: DeliveryPolicy;
  #closed = false;

  constructor(opts: MemoryLogOptions = {}) {
    this.#partitions = opts.partitions ?? 4;
    this.#capacity = opts.capacity ?? 65_536;
    this.#policy = {
      maxAttempts: opts.maxAttempts ?? DEFAULT_DELIVERY.maxAttempts,
      retryMs: opts.retryMs ?? DEFAULT_DELIVERY.retryMs,
      maxRetryMs: opts.maxRetryMs ?? DEFAULT_DELIVERY.maxRetryMs,
    };
    this.#onError =
      opts.onError ?? ((err, what) => console.error(`tickline: ${what}: ${errorMessage(err)}`));
  }

  /**
   * Keys take partitions in turn as they first appear (and keep them), so a
   * few symbols spread evenly: with one process no hash needs to agree with
   * another's, and a hash puts, say, 5 of 10 symbols on one of 4 partitions
   * (measured: the busiest partition paces the path). Past MAX_STICKY keys,
   * new ones are hashed, so a flood of keys cannot grow the map.
   */
  #partitionOf(key: string): number {
    let p = this.#sticky.get(key);
    if (p === undefined) {
      if (this.#sticky.size >= MAX_STICKY) return partitionOf(key, this.#partitions);
      p = this.#sticky.size % this.#partitions;
      this.#sticky.set(key, p);
    }
    return p;
  }

  readonly #sticky = new Map<string, number>();

  #topic(name: string): Topic {
    let t = this.#topics.get(name);
    if (!t) {
      t = {
        name,
        partitions: Array.from({ length: this.#partitions }, () => ({
          base: 0,
          records: [],
          weights: [],
          head: 0,
          dataWaiters: [],
        })),
        groups: new Map(),
        held: 0,
        spaceWaiters: [],
      };
      this.#topics.set(name, t);
    }
    return t;
  }

  async publish<T>(
    topic: string,
    records: readonly T[],
    key: (record: T) => string,
    weight?: (record: T) => number,
  ): Promise<void> {
    if (this.#closed) throw new Error(`log is closed; cannot publish to ${topic}`);
    const t = this.#topic(topic);
    if (records.length === 0) return;
    const touched = new Set<Partition>();
    const n = this.#partitions;
    const keep = t.groups.size > 0;
    for (const r of records) {
      const p = t.partitions[n === 1 ? 0 : this.#partitionOf(key(r))]!;
      if (keep) {
        const w = weight ? weight(r) : 1;
        p.records.push(r);
        p.weights.push(w);
        t.held += w;
      } else p.base++;
      touched.add(p);
    }
    for (const p of touched) wake(p.dataWaiters);
    const room = this.#capacity * n;
    while (t.held > room && !this.#closed && t.groups.size > 0) {
      await new Promise<void>((resolve) => t.spaceWaiters.push(resolve));
    }
  }

  async consume<T>(
    topic: string,
    group: string,
    handler: (batch: LogBatch<T>) => Promise<void>,
    opts: ConsumeOptions = {},
  ): Promise<Subscription> {
    const t = this.#topic(topic);
    let g = t.groups.get(group);
    if (!g) {
      // A new group starts at what the topic still holds.
      g = {
        committed: t.partitions.map((p) => p.base),
        states: t.partitions.map(() => null),
        members: [],
      };
      t.groups.set(group, g);
    }
    const member: Member = {
      handler: handler as Member['handler'],
      opts,
      maxBatch: opts.maxBatch ?? 8192,
      owned: new Set(),
      closed: false,
      loops: new Map(),
    };
    g.members.push(member);
    const grp = g;
    this.#rebalance(t, grp);
    return {
      commit: async (partition, nextOffset, state) =>
        this.#commit(t, grp, partition, nextOffset, state),
      close: async () => {
        member.closed = true;
        grp.members = grp.members.filter((m) => m !== member);
        member.owned.clear();
        for (const p of t.partitions) wake(p.dataWaiters);
        await Promise.all(member.loops.values());
        this.#rebalance(t, grp);
      },
    };
  }

  /** Partitions go round-robin to the group's members; a partition changing hands resumes at the group's commit. */
  #rebalance(t: Topic, g: Group): void {
    const n = t.partitions.length;
    for (let p = 0; p < n; p++) {
      const owner = g.members.length ? g.members[p % g.members.length]! : undefined;
      for (const m of g.members) {
        if (m !== owner && m.owned.delete(p)) m.opts.onRevoke?.(p);
      }
      if (owner && !owner.owned.has(p)) {
        owner.owned.add(p);
        this.#startLoop(t, g, owner, p);
      }
    }
    for (const p of t.partitions) wake(p.dataWaiters);
  }

  #startLoop(t: Topic, g: Group, m: Member, pi: number): void {
    const previous = m.loops.get(pi) ?? Promise.resolve();
    const loop = previous.then(async () => {
      const p = t.partitions[pi]!;
      let position = g.committed[pi]!;
      const kept = g.states[pi];
      const cp = kept && kept.offset === g.committed[pi] ? kept : null;
      if (m.opts.onAssign) await m.opts.onAssign(pi, cp);
      if (cp && cp.offset > position) position = cp.offset;
      while (!m.closed && m.owned.has(pi) && !this.#closed) {
        if (position < p.base) position = p.base;
        const avail = end(p) - position;
        if (avail <= 0) {
          await new Promise<void>((resolve) => p.dataWaiters.push(resolve));
          continue;
        }
        // Up to maxBatch records' worth (by weight), at least one record.
        const from = p.head + (position - p.base);
        let to = from + 1;
        for (let w = p.weights[from]!; to < from + avail && w < m.maxBatch; to++) {
          w += p.weights[to]!;
        }
        const records = p.records.slice(from, to);
        const batch = {
          topic: t.name,
          partition: pi,
          offset: position,
          next: position + records.length,
          records,
        };
        const r = await deliver(batch, {
          policy: this.#policy,
          handler: m.handler,
          opts: m.opts,
          active: () => !m.closed && m.owned.has(pi) && !this.#closed,
          report: this.#onError,
        });
        if (r === 'stopped') break;
        // A record set aside was not committed by the handler: the log commits past it.
        if (r === 'set-aside') this.#commit(t, g, pi, batch.next);
        position = batch.next;
      }
    });
    m.loops.set(pi, loop);
  }

  #commit(t: Topic, g: Group, pi: number, nextOffset: number, state?: string): void {
    if (state !== undefined && nextOffset >= g.committed[pi]!) {
      g.states[pi] = { offset: nextOffset, state };
    }
    if (nextOffset <= g.committed[pi]!) return;
    g.committed[pi] = nextOffset;
    const p = t.partitions[pi]!;
    let low = Infinity;
    for (const other of t.groups.values()) low = Math.min(low, other.committed[pi]!);
    if (low > p.base) {
      const newBase = Math.min(low, end(p));
      const head = p.head + newBase - p.base;
      for (let i = p.head; i < head; i++) {
        t.held -= p.weights[i]!;
        // Let go of it now: a record may be a chunk of a thousand trades, and the array is
        // only cut down every few thousand records.
        p.records[i] = undefined;
      }
      p.head = head;
      p.base = newBase;
      if (p.head > 4096 && p.head * 2 > p.records.length) {
        p.records = p.records.slice(p.head);
        p.weights = p.weights.slice(p.head);
        p.head = 0;
      }
      if (t.held <= this.#capacity * this.#partitions) wake(t.spaceWaiters);
    }
  }

  async lag(topic: string, group: string): Promise<number> {
    const t = this.#topics.get(topic);
    const g = t?.groups.get(group);
    if (!t || !g) return 0;
    return t.partitions.reduce((sum, p, i) => sum + end(p) - g.committed[i]!, 0);
  }

  async close(_opts?: { now?: boolean }): Promise<void> {
    this.#closed = true;
    for (const t of this.#topics.values()) {
      wake(t.spaceWaiters);
      for (const p of t.partitions) wake(p.dataWaiters);
    }
  }
}
