/**
 * The simulator continues from what is stored: on the bundled history AAPL
 * starts near its last daily close, and across two restarts no price jumps
 * by more than the simulated volatility allows (the first trade of a run
 * against the last trade of the run before). Through the real CLI.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Trade } from '../../src/core/records.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';

const dataDir = tempDir();
const env = { TICKLINE_DATA_DIR: dataDir };
const SYMBOLS = ['AAPL', 'SPX'];

async function withStore<T>(fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStoreAt(join(dataDir, 'tickline.duckdb'));
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Annualised volatility of the closes' log returns, computed here on its own. */
function sigmaOf(closes: number[]): number {
  const r = closes.slice(1).map((c, i) => Math.log(c / closes[i]!));
  const m = r.reduce((a, b) => a + b, 0) / r.length;
  return Math.sqrt((r.reduce((a, b) => a + (b - m) ** 2, 0) / (r.length - 1)) * 252);
}

const allTrades = (symbol: string) => withStore((s) => s.readTrades({ symbol, limit: 1_000_000 }));

async function simulate(): Promise<void> {
  const r = await runCli(
    [
      'stream',
      '--source',
      'simulator',
      '--symbols',
      SYMBOLS.join(','),
      '--rate',
      '400',
      '--hours',
      'always',
      '--max-messages',
      '400',
    ],
    env,
  );
  expect(r.code, r.stderr).toBe(0);
}

let lastClose: Record<string, number> = {};
let sigma: Record<string, number> = {};

beforeAll(async () => {
  const demo = await runCli(['demo'], env);
  expect(demo.code, demo.stderr).toBe(0);
  await withStore(async (s) => {
    for (const symbol of SYMBOLS) {
      const bars = (
        await s.readBars({ symbol, interval: '1d', order: 'desc', limit: 61 })
      ).reverse();
      expect(bars.length, `${symbol} has daily history`).toBe(61);
      lastClose = { ...lastClose, [symbol]: bars.at(-1)!.close };
      sigma = { ...sigma, [symbol]: sigmaOf(bars.map((b) => b.close)) };
    }
  });
}, 120_000);

afterAll(() => {});

describe('the simulator starts from the stored history', () => {
  it('starts AAPL near its last daily close and keeps prices continuous across two restarts', async () => {
    // A simulated step of dt has a standard deviation of σ·√dt; the first trade of a run is one
    // second after the price it continues from. Allow 6 standard deviations and a cent of rounding.
    const year = 365.25 * 86_400_000;
    const bound = (symbol: string, price: number) =>
      6 * sigma[symbol]! * Math.sqrt(1_000 / year) * price + 0.011;
    let previous: Record<string, Trade[]> = { AAPL: [], SPX: [] };
    for (let run = 0; run < 3; run++) {
      await simulate();
      for (const symbol of SYMBOLS) {
        const all = await allTrades(symbol);
        const seen = new Set(previous[symbol]!.map((t) => t.tradeId));
        const fresh = all.filter((t) => !seen.has(t.tradeId)).sort((a, b) => a.ts - b.ts);
        expect(fresh.length, `run ${run}: new ${symbol} trades`).toBeGreaterThan(20);
        const before =
          run === 0
            ? lastClose[symbol]!
            : [...previous[symbol]!].sort((a, b) => a.ts - b.ts).at(-1)!.price;
        const first = fresh[0]!.price;
        expect(
          Math.abs(first - before),
          `run ${run}: ${symbol} first trade ${first} after ${before}`,
        ).toBeLessThanOrEqual(bound(symbol, before));
        previous = { ...previous, [symbol]: all };
      }
    }
  });
});
