import { describe, expect, it } from 'vitest';
import { seededRandom } from '../core/random.ts';
import type { Trade } from '../core/records.ts';
import { BarAggregator, type BarEvent } from './trade-bars.ts';

const T = Date.UTC(2024, 0, 2, 15); // a minute boundary
const tr = (ms: number, price: number, size = 1, id = `${ms}-${price}`): Trade => ({
  symbol: 'AAPL',
  ts: T + ms,
  price,
  size,
  conditions: '',
  tradeId: id,
  source: 'test',
});
const agg = () => new BarAggregator({ intervals: ['1s', '1m'], allowedLatenessMs: 2_000 });
const brief = (events: BarEvent[]) =>
  events.map(
    (e) =>
      `${e.kind} ${e.bar.interval} ${(e.bar.ts - T) / 1000}s o${e.bar.open} c${e.bar.close} n${e.bar.tradeCount}`,
  );

describe('BarAggregator', () => {
  it('makes forming updates only while they are turned on; closes and finals either way', () => {
    const on = agg();
    const toggled = agg();
    toggled.setUpdates(false);
    const steps = [[tr(100, 10)], [tr(1_500, 12)], [tr(3_000, 13)], [tr(4_200, 14)]];
    const seen: string[][] = [];
    steps.forEach((batch, i) => {
      if (i === 2) toggled.setUpdates(true);
      const all = brief(on.add(batch));
      const got = brief(toggled.add(batch));
      // Off: everything but the updates; on again: all of it.
      expect(got).toEqual(i < 2 ? all.filter((e) => !e.startsWith('update')) : all);
      seen.push(got);
    });
    expect(seen[0]).toEqual([]);
    expect(seen[2]!.some((e) => e.startsWith('update'))).toBe(true);
  });

  it('publishes forming updates, closes a bar when event time passes its end, finalizes it at the watermark', () => {
    const a = agg();
    expect(brief(a.add([tr(100, 10), tr(900, 11)]))).toEqual([
      'update 1s 0s o10 c11 n2',
      'update 1m 0s o10 c11 n2',
    ]);
    expect(brief(a.add([tr(1_500, 12)]))).toEqual([
      'close 1s 0s o10 c11 n2',
      'update 1s 1s o12 c12 n1',
      'update 1m 0s o10 c12 n3',
    ]);
    expect(a.watermark('AAPL')).toBe(T - 500);
    expect(brief(a.add([tr(3_000, 13)]))).toEqual([
      'close 1s 1s o12 c12 n1',
      'update 1s 3s o13 c13 n1',
      'final 1s 0s o10 c11 n2',
      'update 1m 0s o10 c13 n4',
    ]);
    expect(a.forming('AAPL').map((b) => `${b.interval}@${(b.ts - T) / 1000}`)).toEqual([
      '1m@0',
      '1s@1',
      '1s@3',
    ]);
  });

  it('corrects a closed bar when a trade inside the lateness window arrives, and emits the correction', () => {
    const a = agg();
    a.add([tr(100, 10, 2), tr(1_200, 12)]);
    const ev = a.add([tr(50, 9, 2)]);
    expect(brief(ev)).toEqual(['correction 1s 0s o9 c10 n2', 'update 1m 0s o9 c12 n3']);
    const corrected = ev[0]!.bar;
    expect([corrected.low, corrected.volume, corrected.vwap]).toEqual([9, 4, 9.5]);
  });

  it('without updates, emits exactly the other events, and its bars form the same', () => {
    const steps = [
      [tr(100, 10), tr(900, 11)],
      [tr(1_500, 12)],
      [tr(50, 9, 2), tr(3_000, 13)],
      [tr(61_000, 14)],
    ];
    const a = agg();
    const b = new BarAggregator({
      intervals: ['1s', '1m'],
      allowedLatenessMs: 2_000,
      updates: false,
    });
    for (const s of steps) {
      const all = a.add(s);
      expect(brief(b.add(s))).toEqual(brief(all.filter((e) => e.kind !== 'update')));
      expect(all.some((e) => e.kind === 'update')).toBe(true);
      expect(b.forming('AAPL')).toEqual(a.forming('AAPL'));
    }
    expect(brief(b.flush())).toEqual(brief(a.flush()));
  });

  it('without updates, tells exactly the other events: random sessions, restores included', () => {
    // With 1-minute windows alone, a final is due between closes; with 1-second ones, closes come often.
    const cases = [1, 2, 3, 4, 5].flatMap((seed) => [
      { seed, intervals: ['1s', '1m'] as const },
      { seed, intervals: ['1m'] as const },
    ]);
    for (const { seed, intervals } of cases) {
      const rnd = seededRandom(seed);
      const symbols = ['A', 'B', 'C', 'D', 'E', 'F', 'G'];
      const opts = { intervals, allowedLatenessMs: 2_000 };
      const all = new BarAggregator({ intervals: [...opts.intervals], allowedLatenessMs: 2_000 });
      let quiet = new BarAggregator({ ...opts, intervals: [...opts.intervals], updates: false });
      const newest = new Map<string, number>();
      let id = 0;
      for (let step = 0; step < 400; step++) {
        const batch: Trade[] = [];
        for (let n = Math.floor(rnd() * 12); n > 0; n--) {
          const symbol = symbols[Math.floor(rnd() * symbols.length)]!;
          const top = newest.get(symbol) ?? 0;
          // Mostly forward in small steps, sometimes a jump, sometimes late within the lateness.
          const r = rnd();
          const ts =
            r < 0.2
              ? top - Math.floor(rnd() * 1_999)
              : top + Math.floor(rnd() * (r < 0.9 ? 300 : 70_000));
          newest.set(symbol, Math.max(top, ts));
          batch.push({ ...tr(ts, 100 + Math.floor(rnd() * 50), 1, `i${id++}`), symbol });
        }
        const named = (es: BarEvent[]) => es.map((e) => `${e.bar.symbol} ${brief([e])[0]}`);
        const told = all.add(batch).filter((e) => e.kind !== 'update');
        expect(named(quiet.add(batch))).toEqual(named(told));
        // Now and then the quiet one starts again from its checkpoint, as a process stage does.
        if (rnd() < 0.05) {
          const state = quiet.snapshot();
          quiet = new BarAggregator({ ...opts, intervals: [...opts.intervals], updates: false });
          quiet.restore(state);
        }
        for (const symbol of symbols) expect(quiet.forming(symbol)).toEqual(all.forming(symbol));
      }
      expect(brief(quiet.flush())).toEqual(brief(all.flush()));
    }
  });

  it('does not depend on arrival order: ties at one ms are broken by trade id', () => {
    const trades = [
      tr(10, 5, 1, 'b'),
      tr(10, 6, 1, 'a'),
      tr(20, 7, 1, 'c'),
      tr(20, 4, 1, 'd'),
      tr(900, 8),
    ];
    const run = (list: Trade[]) => {
      const a = agg();
      a.add(list);
      return a
        .flush()
        .filter((e) => e.kind === 'final')
        .map((e) => e.bar);
    };
    const inOrder = run(trades);
    expect(run([...trades].reverse())).toEqual(inOrder);
    expect(run([trades[3]!, trades[0]!, trades[4]!, trades[2]!, trades[1]!])).toEqual(inOrder);
    expect([inOrder[0]!.open, inOrder[0]!.close]).toEqual([6, 8]);
  });

  it('closes and finalizes every open window on flush, one final per bar', () => {
    const a = agg();
    const events = [...a.add([tr(0, 1), tr(61_000, 2)]), ...a.flush()];
    const finals = events.filter((e) => e.kind === 'final');
    expect(finals.map((e) => `${e.bar.interval}@${(e.bar.ts - T) / 1000}`)).toEqual([
      '1s@0',
      '1s@61',
      '1m@0',
      '1m@60',
    ]);
    expect(a.forming()).toEqual([]);
  });
});
