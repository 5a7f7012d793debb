/**
 * One symbol grammar (src/core/limits.ts) for every command and the API:
 * exchange prefixes, indices, share classes, crypto pairs and listings on
 * other exchanges are taken alike; junk is refused alike, naming the rule.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { symbolProblem } from '../../src/core/limits.ts';
import { ROOT, runCli, startServer } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';

const GOOD = [
  'BINANCE:BTCUSDT',
  '^GSPC',
  'BRK-B',
  'BTC-USD',
  'GS2C.DE',
  'EURUSD=X',
  'OANDA:EUR_USD',
];
const BAD = ['', 'AAPL MSFT', 'A;DROP', '-AAPL', 'Ü', 'X'.repeat(33)];
const CSV = join(ROOT, 'test', 'fixtures', 'csv', 'no-symbol.csv');

describe('the symbol grammar', () => {
  it('takes the usual forms and refuses junk, naming the rule', () => {
    for (const s of GOOD) expect(symbolProblem(s), s).toBeNull();
    for (const s of BAD) expect(symbolProblem(s), s).toMatch(/symbol/);
  });

  it('is the same for import, quarantine and the API', async () => {
    const env = { TICKLINE_DATA_DIR: tempDir() };
    for (const s of GOOD) {
      const r = await runCli(['import', CSV, '--symbol', s], env);
      expect(r.code, `${s}: ${r.stderr}`).toBe(0);
      const q = await runCli(['quarantine', '--symbol', s], env);
      expect(q.code, `${s}: ${q.stderr}`).toBe(0);
    }
    for (const s of ['A;DROP', 'AAPL MSFT']) {
      const r = await runCli(['import', CSV, '--symbol', s], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('is not a symbol (letters, digits and');
    }
    const server = await startServer(['--port', '0', '--symbols', 'BINANCE:BTCUSDT'], env);
    try {
      for (const s of GOOD) {
        const r = await fetch(`${server.url}/api/bars?symbol=${encodeURIComponent(s)}&interval=1d`);
        const body = (await r.json()) as { symbol: string; bars: unknown[] };
        expect(r.status, s).toBe(200);
        expect(body.bars, s).toHaveLength(1);
      }
      const bad = await fetch(
        `${server.url}/api/bars?symbol=${encodeURIComponent('A;DROP')}&interval=1d`,
      );
      expect(bad.status).toBe(400);
    } finally {
      await server.stop();
    }
  });
});
