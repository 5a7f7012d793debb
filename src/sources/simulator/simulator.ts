/**
 * Synthetic trades: geometric Brownian motion per symbol from a seed, with
 * bursty arrivals, written as Finnhub trade messages so they take the same
 * path as real ones. Optionally injects bad records at a chosen rate; each
 * message comes with what it is (clean, a duplicate, or a fault and the
 * rule it must break), so tests can check the quarantine exactly.
 */
import { seededRandom } from '../../core/random.ts';

export const FAULT_KINDS = [
  'not_finite',
  'non_positive_price',
  'negative_size',
  'future_timestamp',
  'unsubscribed_symbol',
  'late_trade',
  'price_outlier',
  'malformed_message',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface SimulatorOptions {
  symbols: readonly string[];
  seed?: number;
  /** Mean trades per second over all symbols (event time). */
  tradesPerSecond?: number;
  /** 0 = Poisson arrivals; towards 1 = most trades come in tight bursts. */
  burstiness?: number;
  /** Fraction of messages replaced by a bad record (0 = none). */
  faultRate?: number;
  /** Fraction of messages sent twice (exact duplicates; dropped, not quarantined). */
  duplicateRate?: number;
  /** Event time of the first trade (default: now). */
  startTs?: number;
  /** Trades per message (default 1). */
  tradesPerMessage?: number;
  /** The lateness the pipeline allows, so a late fault is later than that. */
  allowedLatenessMs?: number;
  /**
   * Trading hours: a symbol trades only while its exchange is open; when none
   * is, event time jumps to the next open. Default: always open.
   */
  /**
   * Where each symbol starts: its price and annualised volatility (its last
   * stored price and its history's volatility; see simulator-starts.ts).
   * Symbols not named start from a made-up price with a volatility of 30 %.
   */
  starts?: ReadonlyMap<string, { price: number; sigma: number }>;
  hours?: {
    isOpen(symbol: string, ts: number): boolean;
    nextOpen(symbol: string, ts: number): number;
  };
}

export type MessageTruth =
  | { kind: 'clean'; trades: number }
  | { kind: 'duplicate'; trades: number }
  | { kind: 'fault'; rule: FaultKind };

export interface SimMessage {
  text: string;
  /** Event time of the message (its newest trade). */
  ts: number;
  truth: MessageTruth;
}

const YEAR_MS = 365.25 * 86_400_000;
const CONDITIONS = [[], [], [], ['1'], ['12'], ['1', '12'], ['24']];

interface SymState {
  symbol: string;
  value: number;
  /** Annualised volatility. */
  sigma: number;
  lastTs: number;
  /** Trades of the current millisecond, to keep clean trades distinct. */
  sameMs: { p: number | null; v: number; c: string }[];
  trades: number;
}

/** An endless, deterministic stream of messages for these options. */
export function* simulate(opts: SimulatorOptions): Generator<SimMessage> {
  const rand = seededRandom(opts.seed ?? 1);
  const rate = opts.tradesPerSecond ?? 1_000;
  const burst = Math.min(Math.max(opts.burstiness ?? 0, 0), 0.95);
  const faultRate = opts.faultRate ?? 0;
  const dupRate = opts.duplicateRate ?? 0;
  const perMessage = Math.max(1, opts.tradesPerMessage ?? 1);
  const lateness = opts.allowedLatenessMs ?? 2_000;
  const drift = 0.05;
  const normal = (): number => {
    const u = 1 - rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
  const syms: SymState[] = opts.symbols.map((symbol, i) => ({
    symbol,
    value: opts.starts?.get(symbol)?.price ?? 20 + ((i * 37 + 11) % 480) + rand(),
    sigma: opts.starts?.get(symbol)?.sigma ?? 0.3,
    lastTs: -Infinity,
    sameMs: [],
    trades: 0,
  }));
  if (syms.length === 0) throw new RangeError('the simulator needs at least one symbol');
  // Bursty arrivals: a two-state chain; inside a burst gaps are 10× shorter, outside they are
  // longer by as much, so the mean rate stays `tradesPerSecond`.
  const quiet = (1 - 0.1 * burst) / (1 - burst);
  let inBurst = false;
  let clock = opts.startTs ?? Date.now();
  let exact = clock;
  let lastMessage: SimMessage | undefined;
  for (;;) {
    if (lastMessage && rand() < dupRate) {
      yield { ...lastMessage, truth: { kind: 'duplicate', trades: perMessage } };
      continue;
    }
    const trades: { s: string; p: number | null; t: number; v: number; c?: string[] }[] = [];
    let fault: FaultKind | null = null;
    if (rand() < faultRate) fault = FAULT_KINDS[Math.floor(rand() * FAULT_KINDS.length)]!;
    for (let k = 0; k < (fault ? 1 : perMessage); k++) {
      if (burst > 0 && rand() < 0.1) inBurst = rand() < burst;
      exact += (-Math.log(1 - rand()) * 1000 * (inBurst ? 0.1 : burst > 0 ? quiet : 1)) / rate;
      clock = Math.floor(exact);
      let s = syms[Math.floor(rand() * syms.length)]!;
      const hours = opts.hours;
      if (hours && !hours.isOpen(s.symbol, clock)) {
        let open = syms.filter((x) => hours.isOpen(x.symbol, clock));
        if (open.length === 0) {
          exact = Math.max(exact, Math.min(...syms.map((x) => hours.nextOpen(x.symbol, clock))));
          clock = Math.floor(exact);
          open = syms.filter((x) => hours.isOpen(x.symbol, clock));
        }
        s = open.length > 0 ? open[Math.floor(rand() * open.length)]! : s;
      }
      const dt = s.lastTs === -Infinity ? 1_000 : Math.max(clock - s.lastTs, 1);
      const years = dt / YEAR_MS;
      s.value *= Math.exp(
        (drift - (s.sigma * s.sigma) / 2) * years + s.sigma * Math.sqrt(years) * normal(),
      );
      const price = Math.round(s.value * 100) / 100;
      const size = Math.max(1, Math.round(Math.exp(3 + 1.2 * normal())));
      const c = CONDITIONS[Math.floor(rand() * CONDITIONS.length)]!;
      const t = {
        s: s.symbol,
        p: price as number | null,
        t: clock,
        v: size,
        ...(c.length ? { c } : {}),
      };
      if (fault) {
        if (fault === 'price_outlier' && s.trades < 10) fault = 'non_positive_price';
        if (fault === 'late_trade' && s.lastTs === -Infinity) fault = 'negative_size';
        applyFault(t, fault, s, lateness);
        trades.push(t);
        break;
      }
      // Two identical trades in one millisecond would be one trade to the pipeline: nudge the size.
      if (clock !== s.lastTs) s.sameMs = [];
      const cond = c.join(',');
      while (s.sameMs.some((x) => x.p === t.p && x.v === t.v && x.c === cond)) t.v += 1;
      s.sameMs.push({ p: t.p, v: t.v, c: cond });
      s.lastTs = clock;
      s.trades++;
      trades.push(t);
    }
    let text = JSON.stringify({ data: trades, type: 'trade' });
    if (fault === 'malformed_message') text = text.slice(0, Math.max(10, text.length - 7));
    const msg: SimMessage = {
      text,
      ts: clock,
      truth: fault ? { kind: 'fault', rule: fault } : { kind: 'clean', trades: trades.length },
    };
    if (!fault) lastMessage = msg;
    yield msg;
  }
}

function applyFault(
  t: { s: string; p: number | null; t: number; v: number },
  fault: FaultKind,
  s: SymState,
  lateness: number,
): void {
  switch (fault) {
    case 'not_finite':
      t.p = null;
      break;
    case 'non_positive_price':
      t.p = t.p === null ? 0 : -t.p;
      break;
    case 'negative_size':
      t.v = -t.v;
      break;
    case 'future_timestamp':
      t.t = Date.now() + 86_400_000;
      break;
    case 'unsubscribed_symbol':
      t.s = `${t.s}.UNSUBSCRIBED`;
      break;
    case 'late_trade':
      t.t = s.lastTs - lateness - 1_000;
      break;
    case 'price_outlier':
      t.p = Math.round(s.value * 300) / 100;
      break;
    case 'malformed_message':
      break;
  }
}
