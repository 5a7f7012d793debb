/**
 * A checkpoint of the live path's state (validator + open windows), taken
 * anywhere in a stream, restored into fresh instances after a JSON round
 * trip, gives exactly what an uninterrupted run gives.
 */
import { describe, expect, it } from 'vitest';
import type { CandidateTrade } from '../core/records.ts';
import { BarAggregator, type BarEvent } from '../transform/trade-bars.ts';
import { TradeValidator } from './trade-validator.ts';

const NOW = Date.UTC(2024, 0, 2, 16);
const T0 = Date.UTC(2024, 0, 2, 14, 30);

/** Three symbols; duplicates, late trades (in and beyond the lateness), outliers, conditions. */
function session(n: number): CandidateTrade[] {
  let seed = 42;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const out: CandidateTrade[] = [];
  const price: Record<string, number> = { AAPL: 190, MSFT: 410, SPY: 470 };
  let ts = T0;
  for (let i = 0; i < n; i++) {
    const symbol = ['AAPL', 'MSFT', 'SPY'][Math.floor(rnd() * 3)]!;
    ts += Math.floor(rnd() * 120);
    price[symbol]! *= 1 + (rnd() - 0.5) * 0.002;
    const r = rnd();
    const t: CandidateTrade = {
      symbol,
      ts: r < 0.05 ? ts - 1_000 : r < 0.07 ? ts - 5_000 : ts,
      price: r > 0.98 ? price[symbol]! * 1.5 : Math.round(price[symbol]! * 100) / 100,
      size: 1 + Math.floor(rnd() * 300),
      conditions: rnd() < 0.3 ? '1 12' : '',
      tradeId: '',
      source: 'test',
      payload: `{"i":${i}}`,
      receivedAt: ts,
    };
    out.push(t);
    if (rnd() < 0.03) out.push({ ...t });
  }
  return out;
}

const make = () => ({
  v: new TradeValidator({
    subscribed: null,
    allowedLatenessMs: 2_000,
    futureSkewMs: 1_000,
    dedupWindowMs: 10_000,
    // A narrow band over a short window: one remembered price more or less changes verdicts.
    outlier: { window: 5, band: 0.0015, minSamples: 3 },
    now: () => NOW,
  }),
  b: new BarAggregator({ intervals: ['1s', '1m', '5m'], allowedLatenessMs: 2_000 }),
});

function run(trades: CandidateTrade[], cutEvery: number | null) {
  let st = make();
  const valid: string[] = [];
  const rejects: string[] = [];
  let duplicates = 0;
  const events: BarEvent[] = [];
  for (let i = 0; i < trades.length; i += 37) {
    if (cutEvery !== null && i > 0 && i % cutEvery < 37) {
      const saved = JSON.stringify({ v: st.v.snapshot(), b: st.b.snapshot() });
      st = make();
      const back = JSON.parse(saved);
      st.v.restore(back.v);
      st.b.restore(back.b);
    }
    const batch = trades.slice(i, i + 37).map((t) => ({ ...t }));
    const verdict = st.v.validate(batch);
    valid.push(...verdict.valid.map((t) => `${t.symbol}/${t.ts}/${t.tradeId}`));
    rejects.push(...verdict.rejects.map((q) => `${q.symbol}/${q.rule}/${q.payload}`));
    duplicates += verdict.duplicates;
    events.push(...st.b.add(verdict.valid as never));
  }
  events.push(...st.b.flush());
  return { valid, rejects, duplicates, events };
}

describe('live-path checkpoints', () => {
  it('restoring the validator and the open windows anywhere changes nothing', () => {
    const trades = session(20_000);
    const whole = run(trades, null);
    expect(whole.rejects.some((r) => r.includes('late_trade'))).toBe(true);
    expect(whole.rejects.some((r) => r.includes('price_outlier'))).toBe(true);
    expect(whole.duplicates).toBeGreaterThan(10);
    for (const every of [500, 1_111, 4_000]) {
      const cut = run(trades, every);
      expect(cut.valid).toEqual(whole.valid);
      expect(cut.rejects).toEqual(whole.rejects);
      expect(cut.duplicates).toBe(whole.duplicates);
      expect(cut.events).toEqual(whole.events);
    }
  });

  it('refuses a checkpoint made for other intervals', () => {
    const a = new BarAggregator({ intervals: ['1s'], allowedLatenessMs: 0 });
    const b = new BarAggregator({ intervals: ['1m'], allowedLatenessMs: 0 });
    expect(() => b.restore(a.snapshot())).toThrow(/intervals 1s.*builds 1m/);
  });
});
