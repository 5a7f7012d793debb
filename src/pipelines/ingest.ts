/**
 * Historical ingest: source → quality → store, for many symbols at once.
 * A failing symbol is reported and the others go on; everything a source
 * returned before failing (raw response, quarantined records) is kept.
 */
import pLimit from 'p-limit';
import { errorMessage } from '../core/errors.ts';
import type { Instrument } from '../core/records.ts';
import { type BarQualityOptions, BarValidator } from '../quality/bar-validator.ts';
import type { HistoryRequest, Source } from '../sources/source.ts';
import type { SeriesKey, Store } from '../store/store.ts';

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
  /** Bars inserted or changed in the store. */
  changed: number;
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
}

export interface IngestOptions {
  store: Store;
  quality?: Omit<BarQualityOptions, 'from' | 'to'>;
  concurrency?: number;
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
      changed: 0,
      rejects: 0,
      duplicates: 0,
      error: null,
    };
    try {
      const validator = new BarValidator({ ...opts.quality, from: req.from, to: req.to });
      if (req.symbol !== '*') {
        const prev = await store.lastBarBefore(req.symbol, req.interval, req.from);
        if (prev) validator.seedPreviousClose(prev.symbol, prev.interval, prev.ts, prev.close);
      }
      for await (const batch of source.history(
        req,
        opts.signal ? { signal: opts.signal } : undefined,
      )) {
        const checked = validator.validate(batch.bars);
        const rejects = [...batch.rejects, ...checked.rejected];
        const instruments: Instrument[] = batch.instrument ? [batch.instrument] : [];
        const written = await store.write({
          raw: batch.raw ? [batch.raw] : [],
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
        result.changed += written.barsChanged;
        result.rejects += rejects.length;
        result.duplicates += checked.duplicates;
        progress.rows += checked.valid.length;
        progress.rejects += rejects.length;
        opts.onProgress?.({ ...progress });
      }
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      result.error = errorMessage(err);
      progress.failed++;
    }
    progress.symbolsDone++;
    opts.onProgress?.({ ...progress });
    return result;
  };

  const results = await Promise.all(tasks.map((t) => limit(() => runOne(t))));
  await store.refreshCurated([...touched.values()]);
  const sum = (f: (r: SymbolResult) => number): number => results.reduce((a, r) => a + f(r), 0);
  return {
    results,
    rows: sum((r) => r.rows),
    changed: sum((r) => r.changed),
    rejects: sum((r) => r.rejects),
    duplicates: sum((r) => r.duplicates),
    rejectsByRule,
    failed: results.filter((r) => r.error !== null),
  };
}
