import { DuckDBInstance } from '@duckdb/node-api';
import { ATR, EMA, MACD } from 'technicalindicators';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../core/random.ts';
import { atr, bollinger, ema, macd, macdFrom, rsi, simpleReturn, sma } from './index.ts';
import { trueRange } from './volatility.ts';

/** A seeded random walk with highs and lows around the close. */
function walk(n: number, seed = 7): { c: number[]; h: number[]; l: number[] } {
  let s = seed;
  const rnd = (): number => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
  let p = 100;
  const c: number[] = [];
  const h: number[] = [];
  const l: number[] = [];
  for (let i = 0; i < n; i++) {
    p *= 1 + (rnd() - 0.5) * 0.04;
    c.push(p);
    h.push(p * (1 + rnd() * 0.01));
    l.push(p * (1 - rnd() * 0.01));
  }
  return { c, h, l };
}

function expectClose(ours: Float64Array, reference: (number | null)[], rel = 1e-9): void {
  expect(ours.length).toBe(reference.length);
  for (let i = 0; i < ours.length; i++) {
    const r = reference[i];
    if (r === null || r === undefined) {
      expect(Number.isNaN(ours[i]!), `index ${i} should be NaN, is ${ours[i]}`).toBe(true);
    } else {
      const err = Math.abs(ours[i]! - r) / Math.max(Math.abs(r), 1e-12);
      expect(err, `index ${i}: ${ours[i]} vs ${r}`).toBeLessThanOrEqual(rel);
    }
  }
}

const pad = (n: number, xs: (number | null)[]): (number | null)[] => [
  ...Array(n).fill(null),
  ...xs,
];

describe('RSI', () => {
  it('reproduces the published StockCharts worked example (Wilder, 14)', () => {
    const closes = [
      44.3389, 44.0902, 44.1497, 43.6124, 44.3278, 44.8264, 45.0955, 45.4245, 45.8433, 46.0826,
      45.8931, 46.0328, 45.614, 46.282, 46.282, 46.0028, 46.0328, 46.4116, 46.2222, 45.6439,
      46.2122, 46.2521, 45.7137, 46.4515, 45.7835, 45.3548, 44.0288, 44.1783, 44.2181, 44.5672,
      43.4205, 42.6628, 43.1314,
    ];
    const published = [
      70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99,
      41.46, 41.87, 45.46, 37.3, 33.08, 37.77,
    ];
    const out = rsi(Float64Array.from(closes), 14);
    expect(out.slice(0, 14).every(Number.isNaN)).toBe(true);
    expect(Array.from(out.slice(14)).map((v) => Number(v.toFixed(2)))).toEqual(published);
  });

  it('is 50 for a flat series and 100 for a rising one', () => {
    expect(rsi(new Float64Array(20).fill(5), 14)[19]).toBe(50);
    expect(
      rsi(
        Float64Array.from({ length: 20 }, (_, i) => i + 1),
        14,
      )[19],
    ).toBe(100);
  });
});

describe('EMA, MACD and ATR against technicalindicators (an independent implementation)', () => {
  const { c, h, l } = walk(600);
  const C = Float64Array.from(c);

  it('EMA is seeded with the SMA of the first n values', () => {
    expectClose(ema(C, 12), pad(11, EMA.calculate({ period: 12, values: c })));
    expectClose(ema(C, 26), pad(25, EMA.calculate({ period: 26, values: c })));
    expect(ema(C, 3)[2]).toBeCloseTo((c[0]! + c[1]! + c[2]!) / 3, 12);
  });

  it('MACD(12, 26, 9) line, signal and histogram', () => {
    const ref = MACD.calculate({
      values: c,
      fastPeriod: 12,
      slowPeriod: 26,
      signalPeriod: 9,
      SimpleMAOscillator: false,
      SimpleMASignal: false,
    });
    const m = macd(C);
    expectClose(
      m.macd,
      pad(
        25,
        ref.map((x) => x.MACD!),
      ),
    );
    expectClose(
      m.signal,
      pad(
        25,
        ref.map((x) => x.signal ?? null),
      ),
    );
    expectClose(
      m.hist,
      pad(
        25,
        ref.map((x) => x.histogram ?? null),
      ),
      1e-7,
    );
  });

  it('EMA four steps at a time equals the one-step recurrence to 1e-13, at every length', () => {
    // A long random walk (rounding would show as drift), cut to lengths that end mid-block.
    const rand = seededRandom(9);
    let p = 100;
    const long = Float64Array.from({ length: 100_003 }, () => {
      p *= 1 + (rand() - 0.5) * 0.02;
      return p;
    });
    const full = ema(long, 12);
    for (const len of [11, 12, 13, 14, 15, 16, 17, 1000, 100_001, 100_003]) {
      const x = long.subarray(0, len);
      const got = ema(x, 12);
      const k = 2 / 13;
      let e = x.subarray(0, 12).reduce((a, b) => a + b, 0) / 12;
      let worst = len > 11 ? Math.abs(got[11]! - e) : 0;
      for (let i = 12; i < len; i++) {
        e = e + k * (x[i]! - e);
        worst = Math.max(worst, Math.abs(got[i]! - e) / Math.abs(e));
      }
      expect(worst).toBeLessThan(1e-13);
      expect(Number.isNaN(got[10]!)).toBe(true);
      // Each value depends only on the values up to it, to the bit: the series cut shorter
      // gives the same values where it has them (the last one to three as a block's first ones).
      expect([...ema(x.subarray(0, len - 1), 12)]).toEqual([...got.subarray(0, len - 1)]);
      expect([...got]).toEqual([...full.subarray(0, len)]);
    }
  });

  it('the one-pass MACD equals MACD built from two EMAs (to rounding), and falls back on a NaN start', () => {
    const twoPass = macdFrom(ema(C, 12), ema(C, 26), 9);
    const onePass = macd(C, 12, 26, 9, {
      macd: new Float64Array(C.length).fill(7),
      signal: new Float64Array(C.length).fill(7),
      hist: new Float64Array(C.length).fill(7),
    });
    // ema() takes four steps at a time, the one pass one: the same values but for the last
    // bits (1e-10 here is 1e-12 of the prices).
    for (const k of ['macd', 'signal', 'hist'] as const) {
      const [one, two] = [onePass[k], twoPass[k]];
      for (let i = 0; i < one.length; i++) {
        if (Number.isNaN(two[i]!)) expect(one[i]).toBeNaN();
        else expect(Math.abs(one[i]! - two[i]!)).toBeLessThan(1e-10);
      }
    }
    // Shorter than the signal's seed, and a series that starts with a gap.
    const short = C.subarray(0, 30);
    expect(Array.from(macd(short).signal)).toEqual(
      Array.from(macdFrom(ema(short, 12), ema(short, 26), 9).signal),
    );
    const gap = Float64Array.from(C);
    gap[0] = Number.NaN;
    expect(Array.from(macd(gap).hist)).toEqual(
      Array.from(macdFrom(ema(gap, 12), ema(gap, 26), 9).hist),
    );
  });

  it('ATR(14) with Wilder smoothing', () => {
    const ref = ATR.calculate({ period: 14, high: h, low: l, close: c });
    expectClose(atr(Float64Array.from(h), Float64Array.from(l), C, 14), pad(14, ref));
  });

  it('ATR four steps at a time equals the one-step Wilder recurrence to 1e-13, at every length', () => {
    const rand = seededRandom(11);
    let p = 100;
    const n = 100_003;
    const [hi, lo, cl] = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
    for (let i = 0; i < n; i++) {
      p *= 1 + (rand() - 0.5) * 0.02;
      cl[i] = p;
      hi[i] = p * (1 + rand() * 0.01);
      lo[i] = p * (1 - rand() * 0.01);
    }
    const full = atr(hi, lo, cl, 14);
    const lengths = Array.from({ length: 200 }, (_, i) => 14 + i);
    for (const len of [...lengths, 1000, 100_001, 100_003]) {
      const [h1, l1, c1] = [hi, lo, cl].map((a) => a.subarray(0, len)) as [
        Float64Array,
        Float64Array,
        Float64Array,
      ];
      const got = atr(h1, l1, c1, 14);
      expect(Number.isNaN(got[13]!)).toBe(true);
      let worst = 0;
      if (len > 14) {
        let a = 0;
        for (let i = 1; i <= 14; i++) a += trueRange(h1[i]!, l1[i]!, c1[i - 1]!);
        a /= 14;
        expect(got[14]).toBe(a);
        for (let i = 15; i < len; i++) {
          a = (a * 13 + trueRange(h1[i]!, l1[i]!, c1[i - 1]!)) / 14;
          worst = Math.max(worst, Math.abs(got[i]! - a) / a);
        }
      }
      expect(worst).toBeLessThan(1e-13);
      // Each value depends only on the bars up to it, to the bit: the values at the end of a
      // series cut short (the last one to three as a block's first ones) are the full series'.
      expect([...got]).toEqual([...full.subarray(0, len)]);
    }
  });

  it('the branch-free true range equals max(h−l, |h−pc|, |l−pc|): exactly inside the range, to rounding on gaps', () => {
    let gapsUp = 0;
    let gapsDown = 0;
    for (let i = 1; i < c.length; i++) {
      const pc = c[i - 1]!;
      const ref = Math.max(h[i]! - l[i]!, Math.abs(h[i]! - pc), Math.abs(l[i]! - pc));
      const tr = trueRange(h[i]!, l[i]!, pc);
      if (pc > h[i]!) gapsDown++;
      else if (pc < l[i]!) gapsUp++;
      else expect(tr).toBe(ref);
      expect(Math.abs(tr - ref) / ref).toBeLessThan(1e-14);
    }
    expect(gapsUp).toBeGreaterThan(10);
    expect(gapsDown).toBeGreaterThan(10);
  });
});

describe('SMA, Bollinger and returns against DuckDB window functions', () => {
  it('match to 1e-9 over a long series (drift-free running sums)', async () => {
    const { c } = walk(20_000, 11);
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run('CREATE TABLE x (i INTEGER, c DOUBLE)');
    const a = await conn.createAppender('x');
    c.forEach((v, i) => {
      a.appendInteger(i);
      a.appendDouble(v);
      a.endRow();
    });
    a.closeSync();
    const rows = (
      await conn.runAndReadAll(`
      SELECT
        CASE WHEN i >= 19 THEN avg(c) OVER w20 END AS sma20,
        CASE WHEN i >= 199 THEN avg(c) OVER w200 END AS sma200,
        CASE WHEN i >= 19 THEN avg(c) OVER w20 + 2 * stddev_pop(c) OVER w20 END AS upper,
        CASE WHEN i >= 19 THEN avg(c) OVER w20 - 2 * stddev_pop(c) OVER w20 END AS lower,
        c / lag(c) OVER (ORDER BY i) - 1 AS ret
      FROM x
      WINDOW w20 AS (ORDER BY i ROWS BETWEEN 19 PRECEDING AND CURRENT ROW),
             w200 AS (ORDER BY i ROWS BETWEEN 199 PRECEDING AND CURRENT ROW)
      ORDER BY i`)
    ).getRowObjectsJS() as Record<string, number | null>[];
    conn.closeSync();
    db.closeSync();
    const C = Float64Array.from(c);
    const bb = bollinger(C, 20, 2);
    expectClose(
      sma(C, 20),
      rows.map((r) => r.sma20!),
    );
    expectClose(
      sma(C, 200),
      rows.map((r) => r.sma200!),
    );
    expectClose(
      bb.middle,
      rows.map((r) => r.sma20!),
    );
    expectClose(
      bb.upper,
      rows.map((r) => r.upper!),
    );
    expectClose(
      bb.lower,
      rows.map((r) => r.lower!),
    );
    expectClose(
      simpleReturn(C),
      rows.map((r) => r.ret!),
    );
  });

  it('keeps σ exact where the window is flat or barely moves far from the running centre', () => {
    // A walk, then a jump to 10× and a stretch whose σ is ~1e-9 of its price, then a flat run:
    // the running sums of deviations cancel there, and those windows are summed afresh.
    const { c } = walk(3_000, 5);
    const x = Float64Array.from(c);
    for (let i = 1_000; i < 2_000; i++) x[i] = 1_000 * (1 + Math.sin(i) * 1e-9);
    x.fill(x[2_000]!, 2_000, 2_100);
    const bb = bollinger(x, 20, 2);
    let worst = 0;
    for (let i = 19; i < x.length; i++) {
      let mean = 0;
      for (let j = i - 19; j <= i; j++) mean += x[j]!;
      mean /= 20;
      let m2 = 0;
      for (let j = i - 19; j <= i; j++) m2 += (x[j]! - mean) ** 2;
      const sd = Math.sqrt(m2 / 20);
      const ours = (bb.upper[i]! - bb.lower[i]!) / 4;
      if (sd === 0) expect(ours, `σ at ${i}`).toBe(0);
      else worst = Math.max(worst, Math.abs(ours - sd) / sd);
    }
    expect(worst).toBeLessThan(1e-6);
    expect(bb.upper[2_090]).toBe(bb.middle[2_090]);
  });

  it('returns NaN everywhere when the series is shorter than the window', () => {
    expect(sma(Float64Array.of(1, 2), 3).every(Number.isNaN)).toBe(true);
    expect(() => sma(Float64Array.of(1), 0)).toThrow(/period/);
  });
});

describe('output buffers', () => {
  it('write into a caller-supplied buffer with the same values, and refuse one of the wrong size', () => {
    const { c, h, l } = walk(300, 3);
    const C = Float64Array.from(c);
    const H = Float64Array.from(h);
    const L = Float64Array.from(l);
    const out = new Float64Array(300).fill(123);
    expect(sma(C, 20, out)).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(sma(C, 20)));
    expect(Array.from(ema(C, 12, out))).toEqual(Array.from(ema(C, 12)));
    expect(Array.from(rsi(C, 14, out))).toEqual(Array.from(rsi(C, 14)));
    expect(Array.from(atr(H, L, C, 14, out))).toEqual(Array.from(atr(H, L, C, 14)));
    const bands = {
      middle: new Float64Array(300),
      upper: new Float64Array(300),
      lower: new Float64Array(300),
    };
    expect(Array.from(bollinger(C, 20, 2, bands).upper)).toEqual(Array.from(bollinger(C).upper));
    expect(() => sma(C, 20, new Float64Array(10))).toThrow(
      /output buffer has 10 slots, input has 300/,
    );
  });
});
