import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TradeMemory } from './trade-memory.ts';

type Entry = [number, number, number, number];

describe('TradeMemory', () => {
  it('answers as a plain list does, for trades in and out of ts order, through growth and eviction', () => {
    const op = fc.oneof(
      // Mostly a step forward in time, sometimes the same ts, sometimes back (a late trade).
      fc.record({
        kind: fc.constant('add' as const),
        dt: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: -40, max: -1 })),
        price: fc.integer({ min: 1, max: 3 }),
        size: fc.integer({ min: 0, max: 2 }),
        cond: fc.integer({ min: 0, max: 1 }),
      }),
      fc.record({ kind: fc.constant('evict' as const), back: fc.integer({ min: 0, max: 60 }) }),
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 400 }),
        fc.integer({ min: 1, max: 20 }),
        (ops, capacity) => {
          const memory = new TradeMemory(capacity);
          let list: Entry[] = [];
          let now = 1000;
          for (const o of ops) {
            if (o.kind === 'evict') {
              const cutoff = now - o.back;
              memory.evictBefore(cutoff);
              list = list.filter((e) => e[0] >= cutoff);
              continue;
            }
            const ts = Math.max(0, now + o.dt);
            if (o.dt > 0) now = ts;
            const want = list.some(
              (e) => e[0] === ts && e[1] === o.price && e[2] === o.size && e[3] === o.cond,
            );
            expect(memory.has(ts, o.price, o.size, o.cond)).toBe(want);
            if (!want) {
              memory.add(ts, o.price, o.size, o.cond);
              list.push([ts, o.price, o.size, o.cond]);
            }
          }
          // Oldest first; trades of one ts in the order they came.
          const sorted = list
            .map((e, i) => ({ e, i }))
            .sort((a, b) => a.e[0] - b.e[0] || a.i - b.i);
          expect(memory.flat()).toEqual(sorted.flatMap((x) => x.e));
          expect(memory.size).toBe(list.length);
        },
      ),
      { seed: 23, numRuns: 300 },
    );
  });
});
