/**
 * Poison input on the live path: messages that are valid JSON but nest
 * thousands deep (which overflowed the stack of the quarantine's
 * JSON.stringify and froze the partition for good), a conditions string of
 * 10 MB, unsubscribed and malformed symbols. Each must be quarantined with
 * its rule, every clean trade around it stored, and the process must end by
 * itself.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { tempDir, withDb } from '../helpers/db.ts';
import { poisonMessages } from '../helpers/malformed.ts';

let dir: string;
beforeAll(() => {
  dir = tempDir();
});
const env = (name: string) => ({ TICKLINE_DATA_DIR: join(dir, name), FINNHUB_TOKEN: '' });
const T0 = Date.UTC(2024, 0, 2, 15, 0, 0);
const clean = (from: number, n: number, symbol = 'AAPL'): string[] =>
  Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      type: 'trade',
      data: [{ s: symbol, p: 100 + (from + i) * 0.01, t: T0 + (from + i) * 10, v: 1, c: ['1'] }],
    }),
  );

describe('poison messages on the live path', () => {
  it('stores the 100 clean trades around two deeply nested messages, quarantines the two, and ends by itself', async () => {
    const file = join(dir, 'poison.ndjson');
    writeFileSync(
      file,
      `${[...clean(0, 50), ...poisonMessages(T0 + 505), ...clean(50, 50)].join('\n')}\n`,
    );
    const r = await runCli(
      ['stream', '--source', 'replay', '--file', file, '--speed', 'max', '--symbols', 'AAPL'],
      env('poison'),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('100 new trades');
    expect(r.stderr).not.toMatch(/Maximum call stack/);
    const q = await withDb(join(dir, 'poison', 'tickline.duckdb'), async (sql) => ({
      trades: await sql('SELECT count(*)::INT AS n FROM trades'),
      quarantine: await sql(
        'SELECT stage, rule, message, length(payload)::INT AS len FROM quarantine ORDER BY message',
      ),
    }));
    expect(q.trades[0]!.n).toBe(100);
    expect(q.quarantine).toHaveLength(2);
    for (const row of q.quarantine) {
      expect(row.stage).toBe('parse');
      expect(row.rule).toBe('malformed_message');
      expect(row.message).toBe('message nests deeper than 32 levels');
    }
  });

  it('replay applies --symbols and the symbol grammar and field limits: nothing is stored that the API could not serve', async () => {
    const file = join(dir, 'symbols.ndjson');
    const odd = (s: string, t: number, c: string[] = ['1']) =>
      JSON.stringify({ type: 'trade', data: [{ s, p: 100, t: T0 + t, v: 1, c }] });
    writeFileSync(
      file,
      `${[
        ...clean(0, 20),
        odd('ZZZZ', 1),
        odd("A'); DROP TABLE bars;--", 2),
        odd('AAPL', 3, ['x'.repeat(10_000_000)]),
        odd(
          'AAPL',
          4,
          Array.from({ length: 300 }, () => '1'),
        ),
        ...clean(20, 20),
      ].join('\n')}\n`,
    );
    const r = await runCli(
      ['stream', '--source', 'replay', '--file', file, '--speed', 'max', '--symbols', 'AAPL'],
      env('symbols'),
    );
    expect(r.code, r.stderr).toBe(0);
    const q = await withDb(join(dir, 'symbols', 'tickline.duckdb'), async (sql) => ({
      symbols: await sql('SELECT DISTINCT symbol FROM trades'),
      trades: await sql('SELECT count(*)::INT AS n, max(length(conditions))::INT AS c FROM trades'),
      rules: await sql(
        'SELECT rule, count(*)::INT AS n, max(length(payload))::INT AS len FROM quarantine GROUP BY rule ORDER BY rule',
      ),
    }));
    expect(q.symbols).toEqual([{ symbol: 'AAPL' }]);
    expect(q.trades[0]).toEqual({ n: 40, c: 1 });
    expect(q.rules.map((x) => `${x.rule}:${x.n}`)).toEqual([
      'bad_symbol:1',
      'oversized_field:1',
      'oversized_message:1',
      'unsubscribed_symbol:1',
    ]);
    // The quarantine keeps at most 64 Ki chars of a payload, and says it cut it.
    expect(Math.max(...q.rules.map((x) => x.len as number))).toBeLessThan(70_000);
  });

  it('replay without --symbols takes the recording’s symbols but still refuses ones outside the grammar', async () => {
    const file = join(dir, 'nosym.ndjson');
    const odd = (s: string, t: number) =>
      JSON.stringify({ type: 'trade', data: [{ s, p: 100, t: T0 + t, v: 1, c: ['1'] }] });
    writeFileSync(
      file,
      `${[...clean(0, 5), ...clean(0, 5, 'MSFT'), odd("A'); DROP TABLE bars;--", 2), odd('x'.repeat(40), 3)].join('\n')}\n`,
    );
    const r = await runCli(
      ['stream', '--source', 'replay', '--file', file, '--speed', 'max'],
      env('nosym'),
    );
    expect(r.code, r.stderr).toBe(0);
    const q = await withDb(join(dir, 'nosym', 'tickline.duckdb'), async (sql) => ({
      symbols: await sql('SELECT DISTINCT symbol FROM trades ORDER BY symbol'),
      rules: await sql(
        'SELECT rule, symbol, count(*)::INT AS n FROM quarantine GROUP BY ALL ORDER BY rule',
      ),
    }));
    expect(q.symbols).toEqual([{ symbol: 'AAPL' }, { symbol: 'MSFT' }]);
    expect(q.rules).toEqual([{ rule: 'bad_symbol', symbol: null, n: 2 }]);
  });
});
