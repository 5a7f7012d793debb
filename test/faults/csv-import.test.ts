/**
 * CSV import must never change data silently: a two-digit-looking year, a
 * hex/binary/octal number, a symbol outside the grammar, a row of another
 * symbol than asked — each row is quarantined with a rule that says why and
 * the clean rows are kept. A file that is not a CSV of bars exits 2.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { tempDir, withDb } from '../helpers/db.ts';

let dir: string;
beforeAll(() => {
  dir = tempDir();
});
const env = (name: string) => ({ TICKLINE_DATA_DIR: join(dir, name) });

describe('CSV import keeps data as written or quarantines it', () => {
  it('quarantines years before 1800 and non-decimal numbers, and keeps the clean rows', async () => {
    const file = join(dir, 'odd.csv');
    writeFileSync(
      file,
      [
        'Date,Open,High,Low,Close,Volume',
        '2020-01-02,10,11,9,10.5,100',
        '0020-01-06,10,11,9,10.5,100',
        '2020-01-03,0x0A,11,9,10.5,100',
        '2020-01-06,10,0b1011,9,10.5,100',
        '2020-01-07,10,11,9,10.5,0o11',
        '2020-01-08,10,11,9,10.5,1e3',
        '',
      ].join('\n'),
    );
    const r = await runCli(['import', file, '--symbol', 'AAPL'], env('odd'));
    expect(r.code, r.stderr).toBe(0);
    const q = await withDb(join(dir, 'odd', 'tickline.duckdb'), async (sql) => ({
      bars: await sql(
        "SELECT strftime(ts, '%Y-%m-%d') AS d, open, high, volume FROM bars ORDER BY ts",
      ),
      rejects: await sql('SELECT rule, message FROM quarantine ORDER BY message'),
    }));
    expect(q.bars).toEqual([
      { d: '2020-01-02', open: 10, high: 11, volume: 100 },
      { d: '2020-01-08', open: 10, high: 11, volume: 1000 },
    ]);
    expect(q.rejects.map((x) => x.rule)).toEqual([
      'not_finite',
      'not_finite',
      'not_finite',
      'bad_timestamp',
    ]);
    expect(q.rejects.map((x) => x.message)).toEqual([
      `${file}:4: open "0x0A" is not a decimal number`,
      `${file}:5: high "0b1011" is not a decimal number`,
      `${file}:6: volume "0o11" is not a decimal number`,
      'AAPL 1d: ts 0020-01-06 is before 1800-01-01: no prices are that old (a two-digit year?)',
    ]);
  });

  it('holds symbols to the grammar and to --symbol, and refuses an empty file with exit 2', async () => {
    const file = join(dir, 'symbols.csv');
    writeFileSync(
      file,
      [
        'Symbol,Date,Open,High,Low,Close,Volume',
        'AAPL,2020-01-02,10,11,9,10.5,100',
        'ZZZZ,2020-01-02,10,11,9,10.5,100',
        `"A'); DROP TABLE bars;--",2020-01-02,10,11,9,10.5,100`,
        `${'X'.repeat(100_000)},2020-01-02,10,11,9,10.5,100`,
        '',
      ].join('\n'),
    );
    const r = await runCli(['import', file, '--symbol', 'AAPL'], env('symbols'));
    expect(r.code, r.stderr).toBe(0);
    const q = await withDb(join(dir, 'symbols', 'tickline.duckdb'), async (sql) => ({
      symbols: await sql('SELECT DISTINCT symbol FROM bars'),
      rejects: await sql(
        'SELECT rule, symbol, length(payload)::INT AS len FROM quarantine ORDER BY rule',
      ),
    }));
    expect(q.symbols).toEqual([{ symbol: 'AAPL' }]);
    expect(q.rejects.map((x) => `${x.rule}:${x.symbol}`)).toEqual([
      'bad_symbol:null',
      'malformed_row:null',
      'other_symbol:ZZZZ',
    ]);
    expect(Math.max(...q.rejects.map((x) => x.len as number))).toBeLessThan(70_000);

    const empty = join(dir, 'empty.csv');
    writeFileSync(empty, '');
    const e = await runCli(['import', empty, '--symbol', 'AAPL'], env('empty'));
    expect(e.code).toBe(2);
    expect(e.stderr.trim()).toBe(
      `tickline: ${empty}: expected a CSV file of bars, not an empty file`,
    );
  });
});
