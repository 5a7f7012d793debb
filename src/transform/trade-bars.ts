/**
 * Trades → OHLCV bars in event-time tumbling windows, per symbol.
 *
 * The watermark of a symbol is its newest trade's ts minus the allowed
 * lateness. A window goes through three states:
 * - forming: event time has not reached its end; every change is an `update`
 *   (one per window per batch: updates are conflated);
 * - closed: the symbol's newest trade is at or past its end; the bar is
 *   emitted once as `close` (and stored), and a late trade that still falls
 *   inside the lateness window changes it and emits a `correction`;
 * - final: the watermark has passed its end; it emits `final` and is dropped.
 *   Trades for it would be later than allowed and are quarantined upstream
 *   (`late_trade`), so a final bar never changes.
 * Open and close are the first and last trade by (ts, tradeId), so the bars
 * do not depend on arrival order within the lateness window.
 */
import type { Bar, Trade } from '../core/records.ts';
import { type Interval, intervalMs } from '../core/time.ts';

export type BarEventKind = 'update' | 'close' | 'correction' | 'final';

export interface BarEvent {
  kind: BarEventKind;
  bar: Bar;
}

export interface Window {
  start: number;
  end: number;
  /** The source of the window's first trade: stored as the bar's source. */
  source: string;
  open: number;
  openTs: number;
  openId: string;
  high: number;
  low: number;
  close: number;
  closeTs: number;
  closeId: string;
  volume: number;
  /** Σ price·size, Neumaier-compensated so arrival order barely matters. */
  pv: number;
  pvc: number;
  count: number;
  closed: boolean;
  /** Changed since it was last emitted. */
  dirty: boolean;
}

interface SymbolWindows {
  symbol: string;
  maxTs: number;
  /** One map of open windows per interval, keyed by window start. */
  open: Map<number, Window>[];
  /** Per interval, the window the symbol's last trade went to (most trades go to it too). */
  last: (Window | null)[];
}

/** What a BarAggregator holds: per symbol, the open windows of each interval. */
export interface BarAggregatorState {
  intervals: Interval[];
  symbols: { symbol: string; maxTs: number; open: Window[][] }[];
}

export interface BarAggregatorOptions {
  intervals: readonly Interval[];
  allowedLatenessMs: number;
  /**
   * Emit `update` events for forming bars (default true). Without a listener for them (a
   * `tickline stream` or a worker), a thousand symbols' updates were a thousand bars made and
   * dropped per batch.
   */
  updates?: boolean;
}

export class BarAggregator {
  readonly #intervals: readonly Interval[];
  readonly #ms: number[];
  readonly #lateness: number;
  #updates: boolean;
  readonly #symbols = new Map<string, SymbolWindows>();

  constructor(opts: BarAggregatorOptions) {
    this.#intervals = opts.intervals;
    this.#ms = opts.intervals.map(intervalMs);
    this.#lateness = opts.allowedLatenessMs;
    this.#updates = opts.updates ?? true;
  }
  /** Turns `update` events of forming bars on or off from the next trade on. */
  setUpdates(on: boolean): void {
    this.#updates = on;
  }

  /**
   * Adds trades (already validated: none is later than the watermark) and
   * returns what changed, in order per series: updates of forming bars,
   * corrections, closes, finals (finals in ts order).
   */
  add(trades: readonly Trade[]): BarEvent[] {
    const touched = new Set<SymbolWindows>();
    // Trades come in runs of one symbol (the log's chunks): its windows are looked up once a run.
    let s: SymbolWindows | undefined;
    for (const t of trades) {
      if (s === undefined || t.symbol !== s.symbol) {
        s = this.#symbols.get(t.symbol);
        if (!s) {
          s = {
            symbol: t.symbol,
            maxTs: -Infinity,
            open: this.#ms.map(() => new Map()),
            last: this.#ms.map(() => null),
          };
          this.#symbols.set(t.symbol, s);
        }
        touched.add(s);
      }
      const last = s.last;
      for (let k = 0; k < last.length; k++) {
        const w = last[k]!;
        if (w !== null && t.ts >= w.start && t.ts < w.end) {
          addTrade(w, t);
          continue;
        }
        const ms = this.#ms[k]!;
        const start = Math.floor(t.ts / ms) * ms;
        const map = s.open[k]!;
        let at = map.get(start);
        if (at) addTrade(at, t);
        else {
          at = newWindow(start, start + ms, t);
          map.set(start, at);
        }
        last[k] = at;
      }
      if (t.ts > s.maxTs) s.maxTs = t.ts;
    }
    const events: BarEvent[] = [];
    for (const s of touched) this.#advance(s, s.maxTs, s.maxTs - this.#lateness, events);
    return events;
  }

  /**
   * Closes and finalizes the open windows of `symbols` (default: every
   * symbol): the feed ended, so no trade can change them any more.
   */
  flush(symbols?: Iterable<string>): BarEvent[] {
    const events: BarEvent[] = [];
    if (symbols === undefined) {
      for (const s of this.#symbols.values()) this.#advance(s, Infinity, Infinity, events);
    } else {
      for (const sym of symbols) {
        const s = this.#symbols.get(sym);
        if (s) this.#advance(s, Infinity, Infinity, events);
      }
    }
    return events;
  }

  /** The open windows, as plain JSON (a checkpoint of the live path). */
  snapshot(): BarAggregatorState {
    return {
      intervals: [...this.#intervals],
      symbols: [...this.#symbols.values()].map((s) => ({
        symbol: s.symbol,
        maxTs: s.maxTs,
        open: s.open.map((m) => [...m.values()].map((w) => ({ ...w }))),
      })),
    };
  }

  /** Takes over a snapshot's open windows (replacing this aggregator's). */
  restore(state: BarAggregatorState): void {
    if (state.intervals.join() !== this.#intervals.join()) {
      throw new Error(
        `checkpoint has bars for intervals ${state.intervals.join(',')}, this pipeline builds ${this.#intervals.join(',')}`,
      );
    }
    this.#symbols.clear();
    for (const x of state.symbols) {
      this.#symbols.set(x.symbol, {
        symbol: x.symbol,
        maxTs: x.maxTs,
        open: x.open.map((ws) => new Map(ws.map((w) => [w.start, { ...w }]))),
        last: x.open.map(() => null),
      });
    }
  }

  /** The forming and closed-but-not-final bars, optionally of one symbol. */
  forming(symbol?: string): Bar[] {
    const out: Bar[] = [];
    for (const s of this.#symbols.values()) {
      if (symbol !== undefined && s.symbol !== symbol) continue;
      s.open.forEach((map, k) => {
        for (const w of map.values()) out.push(this.#bar(s.symbol, k, w));
      });
    }
    return out.sort((a, b) => a.ts - b.ts);
  }

  /** The watermark of a symbol (−Infinity before its first trade). */
  watermark(symbol: string): number {
    const s = this.#symbols.get(symbol);
    return s ? s.maxTs - this.#lateness : -Infinity;
  }

  #advance(s: SymbolWindows, eventTime: number, watermark: number, events: BarEvent[]): void {
    s.open.forEach((map, k) => {
      const finals: Window[] = [];
      for (const w of map.values()) {
        if (!w.closed && w.end <= eventTime) {
          w.closed = true;
          w.dirty = false;
          events.push({ kind: 'close', bar: this.#bar(s.symbol, k, w) });
        } else if (w.dirty) {
          w.dirty = false;
          if (w.closed) events.push({ kind: 'correction', bar: this.#bar(s.symbol, k, w) });
          else if (this.#updates) events.push({ kind: 'update', bar: this.#bar(s.symbol, k, w) });
        }
        if (w.end <= watermark) finals.push(w);
      }
      if (finals.length > 0) {
        finals.sort((a, b) => a.start - b.start);
        for (const w of finals) {
          map.delete(w.start);
          if (s.last[k] === w) s.last[k] = null;
          events.push({ kind: 'final', bar: this.#bar(s.symbol, k, w) });
        }
      }
    });
  }

  #bar(symbol: string, k: number, w: Window): Bar {
    return {
      symbol,
      interval: this.#intervals[k]!,
      ts: w.start,
      open: w.open,
      high: w.high,
      low: w.low,
      close: w.close,
      volume: w.volume,
      adjClose: null,
      source: w.source,
      vwap: w.volume > 0 ? (w.pv + w.pvc) / w.volume : null,
      tradeCount: w.count,
    };
  }
}

function newWindow(start: number, end: number, t: Trade): Window {
  return {
    start,
    end,
    source: t.source,
    open: t.price,
    openTs: t.ts,
    openId: t.tradeId,
    high: t.price,
    low: t.price,
    close: t.price,
    closeTs: t.ts,
    closeId: t.tradeId,
    volume: t.size,
    pv: t.price * t.size,
    pvc: 0,
    count: 1,
    closed: false,
    dirty: true,
  };
}

function addTrade(w: Window, t: Trade): void {
  if (t.ts < w.openTs || (t.ts === w.openTs && t.tradeId < w.openId)) {
    w.open = t.price;
    w.openTs = t.ts;
    w.openId = t.tradeId;
  }
  if (t.ts > w.closeTs || (t.ts === w.closeTs && t.tradeId > w.closeId)) {
    w.close = t.price;
    w.closeTs = t.ts;
    w.closeId = t.tradeId;
  }
  if (t.price > w.high) w.high = t.price;
  if (t.price < w.low) w.low = t.price;
  w.volume += t.size;
  const x = t.price * t.size;
  const sum = w.pv + x;
  w.pvc += Math.abs(w.pv) >= Math.abs(x) ? w.pv - sum + x : x - sum + w.pv;
  w.pv = sum;
  w.count++;
  w.dirty = true;
}
