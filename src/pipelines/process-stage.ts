/**
 * The middle of the live path: raw trades from the log → quality rules →
 * event-time bars → trades, quarantined records and bars back into the log.
 *
 * Its state (each symbol's rule memory and open windows) lives per log
 * partition, so a partition can change hands between workers:
 * - over a log that keeps records (Kafka), the stage commits a partition's
 *   offset only together with a checkpoint of that partition's state, at
 *   most every `checkpointMs`. A worker that takes the partition over
 *   restores the checkpoint and goes on from its offset; what the old owner
 *   did after it is done again, giving the same records, which the store
 *   writes idempotently. Nothing is lost and nothing counted twice.
 * - over the in-process log it commits every batch (nothing outlives the
 *   process, and a commit frees room in the log).
 *
 * A `FeedEnd` record (published when a finite feed, such as a replay, ends)
 * closes the symbol's open windows: their bars become final.
 */
import { append } from '../core/arrays.ts';
import { symbolProblem } from '../core/limits.ts';
import {
  type Bar,
  type CandidateTrade,
  type LazyPayload,
  payloadText,
  type Quarantined,
  recordText,
  type Trade,
} from '../core/records.ts';
import type { Interval } from '../core/time.ts';
import {
  type Checkpoint,
  type Log,
  type LogBatch,
  type PartitionCommit,
  type PoisonRecord,
  type Publication,
  type Subscription,
  TOPICS,
  type UnprocessableRecord,
} from '../log/log.ts';
import { TradeValidator, type TradeValidatorState } from '../quality/trade-validator.ts';
import { BarAggregator, type BarAggregatorState, type BarEvent } from '../transform/trade-bars.ts';

/** "This feed has ended for this symbol": its open windows can close. */
export interface FeedEnd {
  end: true;
  symbol: string;
  source: string;
}

/**
 * Trades of one symbol, in arrival order, as one log record: the path moves
 * trades in chunks, so what a log costs per record (several microseconds per
 * Kafka message; a partition look-up and a queue slot in the in-process log)
 * is paid once per chunk.
 */
export interface TradeChunk {
  symbol: string;
  trades: CandidateTrade[];
}

export type RawTradeRecord = CandidateTrade | TradeChunk | FeedEnd;

export const isFeedEnd = (r: RawTradeRecord): r is FeedEnd => (r as FeedEnd).end === true;
export const isChunk = (r: unknown): r is TradeChunk =>
  Array.isArray((r as TradeChunk | null)?.trades);

/** A chunk's log key (its symbol) and weight (its trades, against the in-process log's bounds). */
export const chunkKey = (c: { symbol: string }): string => c.symbol;
export const chunkWeight = (c: { trades?: readonly unknown[] }): number => c.trades?.length ?? 1;

/**
 * Trades in chunks of one symbol each, order kept per symbol, at most `max`
 * trades per chunk (a chunk is one log record, and a durable log bounds a
 * record's size: 1024 trades encode to a few hundred KB).
 */
export function chunkBySymbol<T extends { symbol: string }>(
  trades: readonly T[],
  max = 1024,
): { symbol: string; trades: T[] }[] {
  const out: { symbol: string; trades: T[] }[] = [];
  const open = new Map<string, T[]>();
  // Trades mostly come in runs of one symbol: the run's list is at hand.
  let symbol: string | undefined;
  let list: T[] | undefined;
  for (const t of trades) {
    if (t.symbol !== symbol) {
      symbol = t.symbol;
      list = open.get(symbol);
    }
    if (!list || list.length >= max) {
      list = [];
      open.set(t.symbol, list);
      out.push({ symbol: t.symbol, trades: list });
    }
    list.push(t);
  }
  return out;
}

/** What a batch's output puts into the log: valid trades, rejects and finished bars. */
export function processPublications(out: ProcessOutput): Publication[] {
  const bySymbol = (r: { symbol: string | null }): string => r.symbol ?? '';
  const toStore: Bar[] = [];
  for (const e of out.events)
    if (e.kind === 'close' || e.kind === 'correction') toStore.push(e.bar);
  return [
    {
      topic: TOPICS.trades,
      records: chunkBySymbol(out.valid),
      key: chunkKey,
      weight: chunkWeight,
    },
    { topic: TOPICS.quarantine, records: out.rejects, key: bySymbol },
    { topic: TOPICS.bars, records: toStore, key: bySymbol },
  ];
}

export interface ProcessOptions {
  log: Log;
  intervals: readonly Interval[];
  allowedLatenessMs: number;
  futureSkewMs: number;
  dedupWindowMs: number;
  outlier: { window: number; band: number; minSamples: number };
  /** Symbols the quality stage accepts; null accepts any. */
  accept: ReadonlySet<string> | null;
  /** Emit `update` events of forming bars in the output (default true). */
  barUpdates?: boolean;
  /** Over a durable log: how often a partition's state is checkpointed (default 1000 ms). */
  checkpointMs?: number;
  /** Told what each batch produced, after it is in the log. */
  onOutput?: (out: ProcessOutput) => void;
  onError?: (err: unknown) => void;
}

export interface ProcessOutput {
  valid: CandidateTrade[];
  rejects: Quarantined[];
  duplicates: number;
  events: BarEvent[];
}

interface PartitionState {
  validator: TradeValidator;
  bars: BarAggregator;
  /** Offset after the last handled batch, not yet checkpointed (null: nothing pending). */
  pending: number | null;
  lastCheckpointAt: number;
  /** Batches and checkpoints of a partition run one at a time. */
  chain: Promise<void>;
  /**
   * A batch whose output was computed (the state already holds its trades)
   * but not yet published: a redelivery of the batch publishes this instead
   * of validating again, which would find every trade a duplicate.
   */
  unsent: { offset: number; next: number; out: ProcessOutput } | null;
  /**
   * Over a log with atomic commits: the output of the batches handled since
   * the last commit, published with the next one (and forgotten if the
   * partition is revoked first: its new owner redoes it).
   */
  outbox: ProcessOutput[];
}

interface SavedState {
  v: TradeValidatorState;
  b: BarAggregatorState;
}

export const PROCESS_GROUP = 'process';

/**
 * A record the log could not decode, as a quarantined record: its raw bytes
 * (base64, prefixed `base64:`) and why. Redelivery gives the same record.
 */
export function quarantinePoison(p: PoisonRecord): Quarantined {
  return {
    stage: 'decode',
    source: 'log',
    symbol: p.key,
    rule: /schema/i.test(p.reason) ? 'unresolvable_schema' : 'undecodable_record',
    message: `${p.topic}[${p.partition}]@${p.offset}: ${p.reason}`,
    payload: `base64:${Buffer.from(p.bytes).toString('base64')}`,
    receivedAt: p.timestamp,
  };
}

/**
 * A record a stage failed on every time (see src/log/delivery.ts), as a
 * quarantined record: rule `unprocessable_record`, the error, and the
 * record's raw payload (a trade's provider record) or the record itself.
 */
export function quarantineUnprocessable(
  stage: 'process' | 'store',
  u: UnprocessableRecord,
): Quarantined {
  const r = (u.record ?? {}) as {
    symbol?: unknown;
    source?: unknown;
    payload?: unknown;
    receivedAt?: unknown;
  };
  const symbol = typeof r.symbol === 'string' && symbolProblem(r.symbol) === null ? r.symbol : null;
  return {
    stage,
    source: typeof r.source === 'string' ? r.source : 'log',
    symbol,
    rule: 'unprocessable_record',
    message: `${u.topic}[${u.partition}]@${u.offset}: failed ${u.attempts} times: ${u.error}`,
    payload:
      r.payload !== undefined && r.payload !== ''
        ? payloadText(r.payload as string | LazyPayload)
        : recordText(u.record),
    receivedAt: typeof r.receivedAt === 'number' ? r.receivedAt : Date.now(),
  };
}

export class ProcessStage {
  readonly #o: ProcessOptions;
  readonly #parts = new Map<number, PartitionState>();
  #sub: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #checkpointMs: number;
  #barUpdates: boolean;

  constructor(o: ProcessOptions) {
    this.#o = o;
    this.#checkpointMs = o.checkpointMs ?? 1_000;
    this.#barUpdates = o.barUpdates ?? true;
  }

  /** Turns `update` events of forming bars on or off, in every partition (and those to come). */
  setBarUpdates(on: boolean): void {
    this.#barUpdates = on;
    for (const st of this.#parts.values()) st.bars.setUpdates(on);
  }

  #fresh(): PartitionState {
    const o = this.#o;
    return {
      validator: new TradeValidator({
        subscribed: o.accept,
        allowedLatenessMs: o.allowedLatenessMs,
        futureSkewMs: o.futureSkewMs,
        dedupWindowMs: o.dedupWindowMs,
        outlier: o.outlier,
      }),
      bars: new BarAggregator({
        intervals: o.intervals,
        allowedLatenessMs: o.allowedLatenessMs,
        updates: this.#barUpdates,
      }),
      pending: null,
      lastCheckpointAt: Date.now(),
      chain: Promise.resolve(),
      unsent: null,
      outbox: [],
    };
  }

  #restore(partition: number, cp: Checkpoint | null): void {
    const st = this.#fresh();
    if (cp) {
      try {
        const saved = JSON.parse(cp.state) as SavedState;
        st.validator.restore(saved.v);
        st.bars.restore(saved.b);
      } catch (err) {
        // A checkpoint this build cannot read (say, other intervals): start the
        // partition afresh from its offset rather than stop the pipeline.
        this.#report(
          new Error(
            `partition ${partition}: cannot restore its checkpoint at offset ${cp.offset} (${(err as Error).message}); starting it with empty state`,
          ),
        );
        const empty = this.#fresh();
        st.validator = empty.validator;
        st.bars = empty.bars;
      }
    }
    this.#parts.set(partition, st);
  }

  #report(err: unknown): void {
    if (this.#o.onError) this.#o.onError(err);
    else console.error(`tickline: process: ${(err as Error).message}`);
  }

  /** Joins the stage's consumer group on the raw trades topic. */
  async start(): Promise<void> {
    const log = this.#o.log;
    let joined: (s: Subscription) => void = () => {};
    const ready = new Promise<Subscription>((resolve) => {
      joined = resolve;
    });
    this.#sub = await log.consume<RawTradeRecord>(
      TOPICS.rawTrades,
      PROCESS_GROUP,
      async (b) => this.#handle(b, await ready),
      {
        onPoison: (p) => this.#quarantine(p.partition, quarantinePoison(p), null, ready),
        onUnprocessable: (u) =>
          this.#quarantine(u.partition, quarantineUnprocessable('process', u), u.offset + 1, ready),
        onAssign: (p, cp) => this.#restore(p, cp),
        onRevoke: (p) => {
          this.#parts.delete(p);
        },
      },
    );
    joined(this.#sub);
    if (log.durable) {
      this.#timer = setInterval(() => void this.checkpointAll(), this.#checkpointMs);
    }
  }

  /**
   * A record the stage cannot take goes to the quarantine topic: with the
   * partition's next atomic commit when the log has them (so a redo does not
   * quarantine it twice), else at once. `next`: the offset after it, when
   * no later batch's commit covers it (a record set aside by the log).
   */
  async #quarantine(
    partition: number,
    q: Quarantined,
    next: number | null,
    ready: Promise<Subscription>,
  ): Promise<void> {
    const out: ProcessOutput = { valid: [], rejects: [q], duplicates: 0, events: [] };
    const sub = await ready;
    const st = this.#parts.get(partition);
    if (sub.commitAtomically && st) {
      await this.#locked(st, async () => {
        st.outbox.push(out);
        if (next !== null && (st.pending === null || st.pending < next)) st.pending = next;
      });
      return;
    }
    await this.#o.log.publish(TOPICS.quarantine, [q], (r) => r.symbol ?? '');
    this.#o.onOutput?.(out);
  }

  #locked(st: PartitionState, work: () => Promise<void>): Promise<void> {
    const run = st.chain.then(work);
    st.chain = run.catch(() => {});
    return run;
  }

  async #handle(b: LogBatch<RawTradeRecord>, sub: Subscription): Promise<void> {
    let st = this.#parts.get(b.partition);
    if (!st) {
      // A log that does not announce assignments: start the partition empty.
      this.#restore(b.partition, null);
      st = this.#parts.get(b.partition)!;
    }
    const state = st;
    await this.#locked(state, async () => {
      let records = b.records;
      let offset = b.offset;
      // A batch delivered again after its publish failed: send what it produced, then go on
      // with whatever the redelivery holds beyond it.
      const unsent = state.unsent;
      if (unsent && unsent.offset === b.offset && unsent.next <= b.next) {
        await this.#publish(unsent.out);
        state.unsent = null;
        await this.#handled(b.partition, unsent.next, state, sub);
        records = records.slice(unsent.next - b.offset);
        offset = unsent.next;
        if (records.length === 0) return;
      }
      const out: ProcessOutput = { valid: [], rejects: [], duplicates: 0, events: [] };
      let segment: CandidateTrade[] = [];
      const run = (): void => {
        if (segment.length === 0) return;
        const v = state.validator.validate(segment);
        append(out.valid, v.valid);
        append(out.rejects, v.rejects);
        out.duplicates += v.duplicates;
        append(out.events, state.bars.add(v.valid as Trade[]));
        segment = [];
      };
      for (const r of records) {
        if (isFeedEnd(r)) {
          run();
          append(out.events, state.bars.flush([r.symbol]));
        } else if (isChunk(r)) {
          for (const t of r.trades) segment.push(t);
        } else {
          segment.push(r);
        }
      }
      run();
      if (sub.commitAtomically) {
        // Published with the partition's next checkpoint, in one transaction with it.
        state.outbox.push(out);
        state.pending = b.next;
        if (Date.now() - state.lastCheckpointAt >= this.#checkpointMs) void this.checkpointAll();
        return;
      }
      state.unsent = { offset, next: b.next, out };
      await this.#publish(out);
      state.unsent = null;
      await this.#handled(b.partition, b.next, state, sub);
    });
  }

  /** Publishes a batch's output, and reports it. */
  async #publish(out: ProcessOutput): Promise<void> {
    const log = this.#o.log;
    await Promise.all(
      processPublications(out).map((p) => log.publish(p.topic, p.records, p.key, p.weight)),
    );
    this.#o.onOutput?.(out);
  }

  #committing: Promise<void> = Promise.resolve();

  /**
   * Over a log with atomic commits: every partition's outbox, checkpoint and
   * offset in one transaction; one such commit at a time, in order.
   */
  #commitAll(sub: Subscription & Required<Pick<Subscription, 'commitAtomically'>>): Promise<void> {
    const run = this.#committing.then(async () => {
      const commits: PartitionCommit[] = [];
      const outs: ProcessOutput[] = [];
      await Promise.all(
        [...this.#parts].map(([partition, st]) =>
          this.#locked(st, async () => {
            if (st.pending === null) return;
            const saved: SavedState = { v: st.validator.snapshot(), b: st.bars.snapshot() };
            commits.push({ partition, nextOffset: st.pending, state: JSON.stringify(saved) });
            append(outs, st.outbox);
            st.outbox = [];
            st.pending = null;
            st.lastCheckpointAt = Date.now();
          }),
        ),
      );
      if (commits.length === 0) return;
      const pubs = new Map<string, Publication>();
      for (const out of outs) {
        for (const p of processPublications(out)) {
          const at = pubs.get(p.topic);
          if (at) append(at.records as unknown[], p.records as unknown[]);
          else pubs.set(p.topic, { ...p, records: [...p.records] });
        }
      }
      // On failure the log rejoins the group: the partitions are revoked (their state and
      // outboxes forgotten) and restored from their last committed checkpoints.
      await sub.commitAtomically(commits, [...pubs.values()]);
      for (const out of outs) this.#o.onOutput?.(out);
    });
    this.#committing = run.catch((err) => this.#report(err));
    return this.#committing;
  }

  /** After a batch's output is in the log: commit (in-process log) or checkpoint when due. */
  async #handled(
    partition: number,
    next: number,
    state: PartitionState,
    sub: Subscription,
  ): Promise<void> {
    state.pending = next;
    if (!this.#o.log.durable) {
      await sub.commit(partition, next);
      state.pending = null;
    } else if (Date.now() - state.lastCheckpointAt >= this.#checkpointMs) {
      await this.#checkpoint(partition, state, sub);
    }
  }

  async #checkpoint(partition: number, st: PartitionState, sub: Subscription): Promise<void> {
    // Not while a batch's output is unpublished: the state holds that batch, the offset does not.
    if (st.pending === null || st.unsent !== null) return;
    const saved: SavedState = { v: st.validator.snapshot(), b: st.bars.snapshot() };
    const next = st.pending;
    await sub.commit(partition, next, JSON.stringify(saved));
    st.lastCheckpointAt = Date.now();
    if (st.pending === next) st.pending = null;
  }

  /** Checkpoints every partition with handled but uncommitted batches. */
  async checkpointAll(): Promise<void> {
    const sub = this.#sub;
    if (!sub) return;
    if (sub.commitAtomically) {
      await this.#commitAll(sub as Subscription & Required<Pick<Subscription, 'commitAtomically'>>);
      return;
    }
    await Promise.all(
      [...this.#parts].map(([p, st]) =>
        this.#locked(st, () => this.#checkpoint(p, st, sub)).catch((err) => this.#report(err)),
      ),
    );
  }

  /** The forming and closed-but-not-final bars, optionally of one symbol. */
  forming(symbol?: string): Bar[] {
    const out: Bar[] = [];
    for (const st of this.#parts.values()) out.push(...st.bars.forming(symbol));
    return out.sort((a, b) => a.ts - b.ts);
  }

  /** Checkpoints what is pending, then leaves the group (its partitions go to other workers). */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#o.log.durable) await this.checkpointAll();
    await this.#sub?.close();
    this.#sub = undefined;
  }
}
