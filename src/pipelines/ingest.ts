/**
 * Historical ingest: source → quality → store, for many symbols at once.
 * A failing symbol is reported and the others go on; everything a source
 * returned before failing (raw response, quarantined records) is kept.
 */

import pLimit from 'p-limit';
import { append } from '../core/arrays.ts';
import { errorMessage } from '../core/errors.ts';
import type { Instrument, RawResponse } from '../core/records.ts';
import { type BarQualityOptions, BarValidator } from '../quality/bar-validator.ts';
import type { HistoryRequest, Source } from '../sources/source.ts';
import type { SeriesKey, Store, WriteBatch } from '../store/store.ts';

export interface IngestTask {
  source: Source;
  request: HistoryRequest;
}

export interface IngestProgress {
  symbolsDone: number;
  symbolsTotal: number;
  rows: number;
  rejects: number;
  failed: number;
}

export interface SymbolResult {
  symbol: string;
  source: string;
  /** Bars that passed validation. */
  rows: number;
  rejects: number;
  duplicates: number;
  error: string | null;
}

export interface IngestSummary {
  results: SymbolResult[];
  rows: number;
  changed: number;
  rejects: number;
  duplicates: number;
  rejectsByRule: Record<string, number>;
  failed: SymbolResult[];
  /** The signal fired: symbols not finished are in `failed`; everything fetched was stored. */
  interrupted: boolean;
}

export interface IngestOptions {
  store: Store;
  quality?: Omit<BarQualityOptions, 'from' | 'to'>;
  concurrency?: number;
  /** Writes are gathered across symbols into transactions of about this many bars (default 100k). */
  writeBatchBars?: number;
  /** Stops fetching; what was already fetched is still validated and stored before ingest returns. */
  signal?: AbortSignal;
  onProgress?: (p: IngestProgress) => void;
}

export async function ingest(tasks: IngestTask[], opts: IngestOptions): Promise<IngestSummary> {
  const { store } = opts;
  const limit = pLimit(Math.max(1, opts.concurrency ?? 4));
  const progress: IngestProgress = {
    symbolsDone: 0,
    symbolsTotal: tasks.length,
    rows: 0,
    rejects: 0,
    failed: 0,
  };
  const rejectsByRule: Record<string, number> = {};
  const touched = new Map<string, SeriesKey>();
  opts.onProgress?.({ ...progress });

  const runOne = async (task: IngestTask): Promise<SymbolResult> => {
    const { request: req, source } = task;
    const result: SymbolResult = {
      symbol: req.symbol,
      source: source.name,
      rows: 0,
      rejects: 0,
      duplicates: 0,
      error: null,
    };
    try {
      const validator = new BarValidator({ ...opts.quality, from: req.from, to: req.to });
      const prev = previous.get(task);
      if (prev) validator.seedPreviousClose(prev.symbol, prev.interval, prev.ts, prev.close);
      for await (const batch of source.history(
        req,
        opts.signal ? { signal: opts.signal } : undefined,
      )) {
        const checked = validator.validate(batch.bars);
        const rejects = [...batch.rejects, ...checked.rejected];
        const instruments: Instrument[] = batch.instrument ? [batch.instrument] : [];
        await buffer.add({
          raw: batch.raw ? [withDataFrom(batch.raw, batch.bars, batch.actions)] : [],
          bars: checked.valid,
          rejects,
          actions: batch.actions,
          instruments,
        });
        for (const r of rejects) rejectsByRule[r.rule] = (rejectsByRule[r.rule] ?? 0) + 1;
        for (const b of checked.valid) {
          const key = `${b.symbol}\u0000${b.interval}`;
          if (!touched.has(key)) touched.set(key, { symbol: b.symbol, interval: b.interval });
        }
        result.rows += checked.valid.length;
        result.rejects += rejects.length;
        result.duplicates += checked.duplicates;
        progress.rows += checked.valid.length;
        progress.rejects += rejects.length;
        opts.onProgress?.({ ...progress });
      }
    } catch (err) {
      if (opts.signal?.aborted) result.error = 'interrupted before it finished';
      else {
        result.error = errorMessage(err);
        progress.failed++;
      }
    }
    progress.symbolsDone++;
    opts.onProgress?.({ ...progress });
    return result;
  };

  // The last stored bar before each request, fetched for all symbols at once.
  const seeded = tasks.filter((t) => t.request.symbol !== '*');
  const lastBars = await store.lastBarsBefore(
    seeded.map((t) => ({
      symbol: t.request.symbol,
      interval: t.request.interval,
      ts: t.request.from,
    })),
  );
  const previous = new Map(seeded.map((t, i) => [t, lastBars[i]] as const));
  const buffer = new WriteBuffer(store, opts.writeBatchBars ?? 100_000);
  const results = await Promise.all(tasks.map((t) => limit(() => runOne(t))));
  await buffer.flush();
  await store.refreshCurated([...touched.values()]);
  const sum = (f: (r: SymbolResult) => number): number => results.reduce((a, r) => a + f(r), 0);
  return {
    results,
    rows: sum((r) => r.rows),
    changed: buffer.changed,
    rejects: sum((r) => r.rejects),
    duplicates: sum((r) => r.duplicates),
    rejectsByRule,
    failed: results.filter((r) => r.error !== null),
    interrupted: opts.signal?.aborted ?? false,
  };
}

/**
 * Gathers the writes of many symbols into fewer, larger transactions. A
 * producer that fills it waits for the flush (backpressure). Nothing is
 * stored until a flush; a crash before it loses only what a rerun refetches.
 */
class WriteBuffer {
  changed = 0;
  readonly #store: Store;
  readonly #limit: number;
  #pending: WriteBatch = emptyWrite();
  #size = 0;
  #flushing: Promise<void> = Promise.resolve();

  constructor(store: Store, limitBars: number) {
    this.#store = store;
    this.#limit = Math.max(1, limitBars);
  }

  async add(w: WriteBatch): Promise<void> {
    const p = this.#pending;
    append(p.raw, w.raw);
    append(p.bars, w.bars);
    append(p.rejects, w.rejects);
    append(p.actions, w.actions);
    append(p.instruments, w.instruments);
    this.#size += w.bars.length + w.raw.length * 1000;
    if (this.#size >= this.#limit) await this.flush();
  }

  flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = emptyWrite();
    this.#size = 0;
    this.#flushing = this.#flushing.then(async () => {
      if (
        batch.bars.length + batch.raw.length + batch.rejects.length + batch.actions.length === 0 &&
        batch.instruments.length === 0
      )
        return;
      const res = await this.#store.write(batch);
      this.changed += res.barsChanged;
    });
    return this.#flushing;
  }
}

/** A raw response with the time of the first record it held (its data's year in the lake). */
function withDataFrom(
  raw: RawResponse,
  bars: readonly { ts: number }[],
  actions: readonly { ts: number }[],
): RawResponse {
  if (raw.dataFrom != null) return raw;
  let first = Number.POSITIVE_INFINITY;
  for (const b of bars) if (Number.isFinite(b.ts) && b.ts < first) first = b.ts;
  for (const a of actions) if (a.ts < first) first = a.ts;
  return Number.isFinite(first) ? { ...raw, dataFrom: first } : raw;
}

function emptyWrite(): WriteBatch {
  return { raw: [], bars: [], rejects: [], actions: [], instruments: [] };
}
