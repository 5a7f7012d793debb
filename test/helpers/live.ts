/**
 * Helpers for live-path tests: a finite source over message texts, the
 * pipeline run to completion, and a reference aggregation of trades into
 * bars written independently of src/transform (sort, then group).
 */
import { loadConfig } from '../../src/core/config.ts';
import type { Bar, Trade } from '../../src/core/records.ts';
import { tradeContentId } from '../../src/core/records.ts';
import type { Interval } from '../../src/core/time.ts';
import type { Log } from '../../src/log/log.ts';
import { MemoryLog } from '../../src/log/memory/memory-log.ts';
import { type StreamEvent, StreamPipeline, type StreamStats } from '../../src/pipelines/stream.ts';
import { parseFinnhubMessage } from '../../src/sources/finnhub/finnhub-messages.ts';
import {
  emptyLiveBatch,
  type LiveBatch,
  type LiveSource,
  type ThreadSpec,
} from '../../src/sources/source.ts';
import type { Store } from '../../src/store/store.ts';

/**
 * A live source that hands over the given messages in batches of `per`, then ends. With
 * `thread`, the live path may run it (and its process stage) on a worker thread.
 */
export class MessageSource implements LiveSource {
  readonly name: string;
  readonly #o: { messages: readonly string[]; name: string; per: number; thread: boolean };
  constructor(o: { messages: readonly string[]; name: string; per: number; thread: boolean }) {
    this.#o = o;
    this.name = o.name;
  }
  async *live(): AsyncGenerator<LiveBatch> {
    const { messages, per, name } = this.#o;
    for (let i = 0; i < messages.length; i += per) {
      const batch = emptyLiveBatch();
      const now = Date.now();
      for (const text of messages.slice(i, i + per)) {
        batch.messages.push({ text, receivedAt: now });
        parseFinnhubMessage(text, now, name, batch);
      }
      yield batch;
    }
  }
  onThread(): ThreadSpec | null {
    if (!this.#o.thread) return null;
    return {
      module: import.meta.url,
      exportName: 'MessageSource',
      options: { ...this.#o, thread: false },
    };
  }
}

export function messageSource(
  messages: readonly string[],
  name = 'finnhub',
  per = 64,
  thread = false,
): LiveSource {
  return new MessageSource({ messages, name, per, thread });
}

export const LIVE_DEFAULTS = loadConfig({ cwd: '/', env: {} }).live;

export async function runToEnd(
  store: Store,
  source: LiveSource,
  symbols: readonly string[],
  opts: {
    onEvent?: (e: StreamEvent) => void;
    signal?: AbortSignal;
    accept?: Set<string> | null;
    /** The log to run over (default: a new in-process log with 4 partitions). */
    log?: Log;
    /** Forming-bar updates (default: when there is an onEvent). */
    barUpdates?: boolean;
    /** Whether the source and process stage must run on a worker thread (checked). */
    threaded?: boolean;
  } = {},
): Promise<StreamStats> {
  const log = opts.log ?? new MemoryLog({ partitions: 4 });
  const p = new StreamPipeline({
    source,
    symbols,
    store,
    log,
    live: LIVE_DEFAULTS,
    futureSkewMs: 60_000,
    ...(opts.accept !== undefined ? { accept: opts.accept } : {}),
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.barUpdates !== undefined ? { barUpdates: opts.barUpdates } : {}),
  });
  if (opts.threaded !== undefined && p.threaded !== opts.threaded) {
    throw new Error(`the pipeline ${p.threaded ? 'runs' : 'does not run'} on a worker thread`);
  }
  try {
    return await p.run();
  } finally {
    await log.close();
  }
}

/** The distinct trades in messages, parsed with JSON.parse alone (no tickline code). */
export function tradesIn(messages: readonly string[], source = 'finnhub'): Trade[] {
  const seen = new Map<string, Trade>();
  for (const m of messages) {
    let doc: {
      type?: string;
      data?: { s: string; p: number; t: number; v: number; c?: string[] }[];
    };
    try {
      doc = JSON.parse(m);
    } catch {
      continue;
    }
    if (doc.type !== 'trade' || !doc.data) continue;
    for (const d of doc.data) {
      const conditions = (d.c ?? []).join(',');
      const key = `${d.s}|${d.t}|${d.p}|${d.v}|${conditions}`;
      if (seen.has(key)) continue;
      seen.set(key, {
        symbol: d.s,
        ts: d.t,
        price: d.p,
        size: d.v,
        conditions,
        tradeId: tradeContentId(d.t, d.p, d.v, conditions),
        source,
      });
    }
  }
  return [...seen.values()].sort(
    (a, b) => a.symbol.localeCompare(b.symbol) || a.ts - b.ts || a.tradeId.localeCompare(b.tradeId),
  );
}

function groupBy<T, K>(items: readonly T[], key: (t: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (const t of items) {
    const k = key(t);
    const g = m.get(k);
    if (g) g.push(t);
    else m.set(k, [t]);
  }
  return m;
}

const MS: Partial<Record<Interval, number>> = { '1s': 1_000, '1m': 60_000, '5m': 300_000 };

/**
 * Reference bars: trades sorted by (ts, tradeId) per symbol, grouped by
 * bucket; open/close are the first/last of each group.
 */
export function referenceBars(
  trades: readonly Trade[],
  intervals: Interval[],
  source: string,
): Bar[] {
  const out: Bar[] = [];
  const bySymbol = groupBy(trades, (t) => t.symbol);
  for (const [symbol, list] of [...bySymbol].sort((a, b) => a[0].localeCompare(b[0]))) {
    const sorted = [...list].sort((a, b) => a.ts - b.ts || (a.tradeId < b.tradeId ? -1 : 1));
    for (const interval of intervals) {
      const ms = MS[interval]!;
      const groups = groupBy(sorted, (t) => t.ts - (t.ts % ms));
      for (const [ts, g] of groups) {
        const volume = g.reduce((s, t) => s + t.size, 0);
        const pv = g.reduce((s, t) => s + t.price * t.size, 0);
        out.push({
          symbol,
          interval,
          ts,
          open: g[0]!.price,
          high: Math.max(...g.map((t) => t.price)),
          low: Math.min(...g.map((t) => t.price)),
          close: g[g.length - 1]!.price,
          volume,
          adjClose: null,
          source,
          vwap: volume > 0 ? pv / volume : null,
          tradeCount: g.length,
        });
      }
    }
  }
  return out;
}

/** Compares bars: every field exact except vwap (summation order), to 1e-12 relative. */
export function diffBars(got: readonly Bar[], want: readonly Bar[]): string[] {
  const key = (b: Bar): string => `${b.symbol}|${b.interval}|${b.ts}`;
  const g = new Map(got.map((b) => [key(b), b]));
  const problems: string[] = [];
  if (got.length !== want.length) problems.push(`${got.length} bars, want ${want.length}`);
  for (const w of want) {
    const b = g.get(key(w));
    if (!b) {
      problems.push(`missing ${key(w)}`);
      continue;
    }
    for (const f of ['open', 'high', 'low', 'close', 'volume', 'tradeCount', 'source'] as const) {
      if (b[f] !== w[f]) problems.push(`${key(w)} ${f}: ${b[f]} want ${w[f]}`);
    }
    const dv = Math.abs((b.vwap ?? 0) - (w.vwap ?? 0));
    if (dv > 1e-12 * Math.abs(w.vwap ?? 1))
      problems.push(`${key(w)} vwap: ${b.vwap} want ${w.vwap}`);
    if (problems.length > 10) break;
  }
  return problems;
}
