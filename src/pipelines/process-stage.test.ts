import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunkBySymbol } from './process-stage.ts';

describe('chunkBySymbol', () => {
  it('keeps each symbol’s order, fills a chunk to the limit before the next, and loses nothing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('A', 'B', 'C'), { maxLength: 200 }),
        fc.integer({ min: 1, max: 7 }),
        (symbols, max) => {
          const trades = symbols.map((symbol, n) => ({ symbol, n }));
          const chunks = chunkBySymbol(trades, max);
          for (const s of ['A', 'B', 'C']) {
            const mine = chunks.filter((c) => c.symbol === s);
            expect(mine.flatMap((c) => c.trades)).toEqual(trades.filter((t) => t.symbol === s));
            // Every chunk but a symbol's last is full.
            for (const c of mine.slice(0, -1)) expect(c.trades).toHaveLength(max);
            for (const c of mine) expect(c.trades.every((t) => t.symbol === s)).toBe(true);
          }
          // Chunks come in the order their first trade came.
          const firsts = chunks.map((c) => c.trades[0]!.n);
          expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
        },
      ),
      { seed: 7, numRuns: 300 },
    );
  });
});
