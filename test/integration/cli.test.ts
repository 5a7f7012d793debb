/** The real `tickline` binary, end to end, against local replay servers and real DuckDB files. */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoDatasets } from '../../src/cli/commands/demo.ts';
import { ROOT, runCli, startCli } from '../helpers/cli.ts';
import { checksums, tempDir, withDb } from '../helpers/db.ts';
import { fixture, type ReplayServer, startReplayServer } from '../helpers/replay-server.ts';

const YAHOO: Record<string, string> = {
  AAPL: fixture('yahoo/yahoo-chart-AAPL-1d-2020-08-31_2020-11-06-splits-dividends.json'),
  MSFT: fixture('yahoo/yahoo-chart-MSFT-1d-2021-02-01_2022-01-28-dividends.json'),
  NVDA: fixture('yahoo/yahoo-chart-NVDA-1d-2021-02-01_2022-01-28-split.json'),
};
const NOT_FOUND = fixture('yahoo/yahoo-chart-error-SI-not-found.json');
/** A backfill of the three recorded daily charts. */
const BACKFILL_THREE = [
  'backfill',
  '--symbols',
  'AAPL,MSFT,NVDA',
  '--from',
  '2020-08-01',
  '--to',
  '2022-01-31',
];

/** Real S&P 500 daily bars (vega-datasets) rewritten into Stooq's download format. */
function stooqCsv(): string {
  const src = readFileSync(demoDatasets()[0]!.file, 'utf8').trim().split('\n');
  const rows = src.slice(1).map((l) => {
    const [d, o, h, lo, c, , v] = l.split(',');
    return [d, o, h, lo, c, v].join(',');
  });
  return `${['Date,Open,High,Low,Close,Volume', ...rows].join('\r\n')}\r\n`;
}

let yahoo: ReplayServer;
let stooq: ReplayServer;
beforeAll(async () => {
  yahoo = await startReplayServer((url) => {
    const sym = decodeURIComponent(url.pathname.split('/').pop()!);
    if (sym === 'SI') return [{ status: 404, body: NOT_FOUND }];
    const body = YAHOO[sym];
    return body ? [{ body }] : undefined;
  });
  const spx = stooqCsv();
  stooq = await startReplayServer((url) => {
    const s = url.searchParams.get('s');
    if (s === 'spx.us') return [{ body: spx, headers: { 'content-type': 'text/csv' } }];
    return [{ body: 'No data', headers: { 'content-type': 'text/plain' } }];
  });
});
afterAll(async () => {
  await yahoo.close();
  await stooq.close();
});

const env = (dir: string): Record<string, string> => ({
  TICKLINE_DATA_DIR: dir,
  TICKLINE_YAHOO_URL: yahoo.url,
  TICKLINE_STOOQ_URL: stooq.url,
});

describe('tickline backfill', () => {
  it('stores every symbol, and running it twice leaves identical tables', async () => {
    const dir = tempDir();
    const args = [...BACKFILL_THREE, '--source', 'yahoo'];
    const first = await runCli(args, env(dir));
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/symbols: 3\/3 ok · bars valid: 553/);
    const once = await checksums(join(dir, 'tickline.duckdb'));
    const second = await runCli(args, env(dir));
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/stored or changed: 0 /);
    const twice = await checksums(join(dir, 'tickline.duckdb'));
    expect(twice).toEqual(once);
    expect(once.bars).toMatch(/^553:/);
    expect(once.bars_enriched).toMatch(/^553:/);
  });

  it('exits 2 when a symbol fails, names it, and stores the rest', async () => {
    const dir = tempDir();
    const r = await runCli(
      ['backfill', '--symbols', 'SI,AAPL', '--from', '2020-08-01', '--to', '2020-11-07'],
      env(dir),
    );
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/failed symbols \(1\)/);
    expect(r.stdout).toMatch(/SI\s+yahoo\s+yahoo: SI: No data found, symbol may be delisted/);
    const q = await runCli(
      ['query', 'SELECT symbol, count(*) AS n FROM bars GROUP BY symbol', '--format', 'json'],
      env(dir),
    );
    expect(JSON.parse(q.stdout)).toEqual([{ symbol: 'AAPL', n: 49 }]);
  });

  it('stooq: daily CSV backfill, and "No data" is a per-symbol failure', async () => {
    const dir = tempDir();
    const r = await runCli(
      [
        'backfill',
        '--source',
        'stooq',
        '--symbols',
        'SPX,NOPE',
        '--from',
        '2000-01-01',
        '--to',
        '2020-12-31',
      ],
      env(dir),
    );
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/NOPE\s+stooq\s+stooq: NOPE: No data/);
    expect(
      stooq.requests.some((u) => u.startsWith('/q/d/l/?s=spx.us&i=d&d1=20000101&d2=20201231')),
    ).toBe(true);
    const q = await runCli(
      [
        'query',
        `SELECT count(*) AS n, min(ts)::VARCHAR AS first, max(close) AS hi FROM bars WHERE symbol = 'SPX'`,
        '--format',
        'json',
      ],
      env(dir),
    );
    expect(JSON.parse(q.stdout)).toEqual([
      { n: 5105, first: '2000-01-03 00:00:00', hi: 3386.149902 },
    ]);
  });
});

describe('tickline backfill interrupted', () => {
  it('Ctrl-C stops fetching, stores what was fetched and exits 130', async () => {
    const slow = await startReplayServer((url) => {
      const sym = decodeURIComponent(url.pathname.split('/').pop()!);
      const body = YAHOO[sym];
      if (!body) return undefined;
      return [{ body, delayMs: sym === 'AAPL' ? 0 : 20_000 }];
    });
    try {
      const dir = tempDir();
      const { child, done } = startCli([...BACKFILL_THREE, '--concurrency', '1'], {
        ...env(dir),
        TICKLINE_YAHOO_URL: slow.url,
      });
      // MSFT is requested only after AAPL was fetched and validated: then interrupt.
      while (!slow.requests.some((r) => r.includes('/MSFT?'))) {
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill('SIGINT');
      const r = await done;
      expect(r.code).toBe(130);
      expect(r.stderr).toMatch(/interrupted: storing what was fetched/);
      expect(r.stdout).toMatch(/run the same command again to finish/);
      const q = await runCli(
        ['query', 'SELECT symbol, count(*) AS n FROM bars GROUP BY symbol', '--format', 'json'],
        env(dir),
      );
      expect(JSON.parse(q.stdout)).toEqual([{ symbol: 'AAPL', n: 49 }]);
    } finally {
      await slow.close();
    }
  });
});

describe('tickline backfill on a terminal', () => {
  it('shows a progress bar with symbols done/total, rows, rejects and failures', async () => {
    const dir = tempDir();
    const vars = Object.entries(env(dir))
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const bin = join(ROOT, 'bin', 'tickline.js');
    const command = `${vars} ${process.execPath} ${bin} backfill --symbols AAPL,MSFT,SI --from 2020-08-01 --to 2022-01-31`;
    // `script` gives the CLI a pseudo-terminal, as an interactive user would.
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: ROOT });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.on('close', (code) => resolve({ code: code ?? -1, out }));
    });
    expect(r.code).toBe(2);
    // Each redraw starts with a carriage return or the cursor-to-column-1 escape (ESC [1G).
    const frames = r.out
      .split(new RegExp(`\\r|${String.fromCharCode(27)}\\[1G`))
      .filter((f) => f.includes('symbols |'));
    expect(frames.length).toBeGreaterThan(1);
    expect(frames[0]).toMatch(/0\/3 symbols \| 0 rows \| 0 rejects \| 0 failed/);
    expect(frames.at(-1)).toMatch(/3\/3 symbols \| 301 rows \| 0 rejects \| 1 failed/);
  });
});

describe('tickline import, query, quarantine, status, export', () => {
  it('imports a CSV twice with identical tables, and lists quarantine and status', async () => {
    const dir = tempDir();
    const file = join(dir, 'aapl.csv');
    const real = readFileSync(demoDatasets()[1]!.file, 'utf8').trim().split('\n');
    // One broken row (high < low) among the real ones.
    real.splice(5, 0, '2013-05-20,62.0,60.0,61.0,61.5,48.0,100');
    writeFileSync(file, `${real.join('\n')}\n`);
    const a = await runCli(['import', file, '--symbol', 'AAPL'], env(dir));
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/high_low_inconsistent\s+1/);
    const once = await checksums(join(dir, 'tickline.duckdb'));
    const b = await runCli(['import', file, '--symbol', 'AAPL'], env(dir));
    expect(b.code).toBe(0);
    expect(await checksums(join(dir, 'tickline.duckdb'))).toEqual(once);

    const q = await runCli(['quarantine', '--rule', 'high_low_inconsistent'], env(dir));
    expect(q.stdout).toMatch(
      /^quarantined: 1 matching --rule high_low_inconsistent, of 1 in all \(high_low_inconsistent 1\)/,
    );
    expect(q.stdout).toMatch(/2013-05-20,62.0,60.0,61.0,61.5,48.0,100/);
    const s = await runCli(['status', '--format', 'json'], env(dir));
    expect(JSON.parse(s.stdout)).toEqual([
      {
        symbol: 'AAPL',
        interval: '1d',
        kind: 'bars',
        rows: 1260,
        first: '2013-05-13',
        last: '2018-05-11',
        rejects: 1,
      },
    ]);
    const csv = await runCli(
      [
        'query',
        `SELECT symbol, round(close, 2) AS close FROM bars ORDER BY ts LIMIT 2`,
        '--format',
        'csv',
      ],
      env(dir),
    );
    expect(csv.stdout).toBe('symbol,close\nAAPL,64.96\nAAPL,63.41\n');

    // The header counts what the filter selects, not the whole quarantine.
    const none = await runCli(['quarantine', '--symbol', 'MSFT'], env(dir));
    expect(none.code).toBe(0);
    expect(none.stdout).toMatch(/^quarantined: 0 matching --symbol MSFT, of 1 in all\n/);
    // Unknown values are refused like any bad flag: exit 2, one line naming the flag.
    const rule = await runCli(['quarantine', '--rule', 'bogus_rule'], env(dir));
    expect(rule.code).toBe(2);
    expect(rule.stderr).toMatch(
      /^tickline: --rule: "bogus_rule" is not a rule; expected one of .*high_low_inconsistent/,
    );
    const stage = await runCli(['quarantine', '--stage', 'foo'], env(dir));
    expect(stage.code).toBe(2);
    expect(stage.stderr).toMatch(
      /^tickline: --stage: "foo" is not one of parse, validate, decode, process, store/,
    );

    // query reads only, unless --write; a write then recomputes the indicators.
    const count = async () =>
      JSON.parse(
        (
          await runCli(
            ['query', 'SELECT count(*)::INT AS n FROM bars', '--format', 'json'],
            env(dir),
          )
        ).stdout,
      )[0].n as number;
    const refused = await runCli(['query', 'DELETE FROM bars'], env(dir));
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/^tickline: SQL refused: .*DELETE.*add --write/);
    expect(await count()).toBe(1260);
    const cut = await runCli(
      ['query', "DELETE FROM bars WHERE ts >= TIMESTAMP '2018-01-01'", '--write'],
      env(dir),
    );
    expect(cut.code, cut.stderr).toBe(0);
    expect(cut.stderr).toMatch(/indicators recomputed for 1 series/);
    const check = await runCli(
      [
        'query',
        `SELECT count(*)::INT AS n, max(ts) < TIMESTAMP '2018-01-01' AS cut FROM bars_enriched WHERE sma_20 IS NOT NULL`,
        '--format',
        'json',
      ],
      env(dir),
    );
    const [after] = JSON.parse(check.stdout) as { n: number; cut: boolean }[];
    expect(after!.cut).toBe(true);
    expect(after!.n).toBe((await count()) - 19);
  });

  it('exports every layer as hive-partitioned Parquet and CSV that DuckDB reads back identically', async () => {
    const dir = tempDir();
    await runCli(
      ['backfill', '--symbols', 'AAPL,MSFT', '--from', '2020-08-01', '--to', '2022-01-31'],
      env(dir),
    );
    const out = join(dir, 'lake');
    for (const [layer, format] of [
      ['staging', 'parquet'],
      ['curated', 'parquet'],
      ['curated', 'csv'],
      ['raw', 'parquet'],
      ['corporate_actions', 'parquet'],
    ] as const) {
      const to = format === 'csv' ? `${out}-csv` : out;
      const r = await runCli(
        ['export', '--layer', layer, '--format', format, '--out', to],
        env(dir),
      );
      expect(r.code, r.stderr).toBe(0);
    }
    await withDb(join(dir, 'tickline.duckdb'), async (sql) => {
      const parts = await sql(`SELECT DISTINCT regexp_extract(filename, 'curated/(.*)/part', 1) AS p
        FROM read_parquet('${out}/curated/**/*.parquet', filename = true) ORDER BY p`);
      expect(parts.map((p) => p.p)).toEqual([
        'interval=1d/symbol=AAPL/year=2020',
        'interval=1d/symbol=MSFT/year=2021',
        'interval=1d/symbol=MSFT/year=2022',
      ]);
      const diff = async (table: string, reader: string): Promise<number> => {
        const cols = (await sql(`SELECT column_name FROM (DESCRIBE ${table})`)).map(
          (c) => c.column_name as string,
        );
        const list = cols.join(', ');
        const [r] = await sql(`SELECT
          (SELECT count(*) FROM (SELECT ${list} FROM ${table} EXCEPT ALL SELECT ${list} FROM ${reader})) +
          (SELECT count(*) FROM (SELECT ${list} FROM ${reader} EXCEPT ALL SELECT ${list} FROM ${table})) AS n`);
        return Number(r!.n);
      };
      expect(
        await diff('bars', `read_parquet('${out}/staging/**/*.parquet', hive_partitioning = true)`),
      ).toBe(0);
      expect(
        await diff(
          'bars_enriched',
          `read_parquet('${out}/curated/**/*.parquet', hive_partitioning = true)`,
        ),
      ).toBe(0);
      expect(
        await diff(
          'raw_responses',
          `read_parquet('${out}/raw/**/*.parquet', hive_partitioning = true)`,
        ),
      ).toBe(0);
      const [n] = await sql(
        `SELECT count(*)::INTEGER AS n FROM read_csv('${out}-csv/curated/**/*.csv', hive_partitioning = true)`,
      );
      expect(n!.n).toBe(301);
      // Raw responses go by their data's year (AAPL's from 2020, MSFT's from 2021, as the bars
      // above), not the year they were received.
      const raw = await sql(`SELECT DISTINCT regexp_extract(filename, 'raw/(.*)/part', 1) AS p
        FROM read_parquet('${out}/raw/**/*.parquet', filename = true) ORDER BY p`);
      expect(raw.map((p) => p.p)).toEqual(['source=yahoo/year=2020', 'source=yahoo/year=2021']);
      // The corporate actions (AAPL's 4:1 split of 2020-08-31) are a layer too.
      expect(
        await diff(
          'corporate_actions',
          `read_parquet('${out}/corporate_actions/**/*.parquet', hive_partitioning = true)`,
        ),
      ).toBe(0);
      const [split] = await sql(
        `SELECT symbol, strftime(ts, '%Y-%m-%d') AS day, kind, value FROM read_parquet('${out}/corporate_actions/**/*.parquet', hive_partitioning = true) WHERE kind = 'split'`,
      );
      expect(split).toMatchObject({ symbol: 'AAPL', day: '2020-08-31', value: 4 });
      // Times are instants in UTC: TIMESTAMP with isAdjustedToUTC in every layer's files.
      for (const layer of ['staging', 'curated', 'raw', 'corporate_actions']) {
        const types =
          await sql(`SELECT DISTINCT logical_type FROM parquet_schema('${out}/${layer}/**/*.parquet')
          WHERE name IN ('ts', 'received_at', 'ingested_at', 'data_from')`);
        expect(types.length, layer).toBeGreaterThan(0);
        for (const t of types) expect(String(t.logical_type), layer).toContain('isAdjustedToUTC=1');
      }
    });
  });
});

describe('bad input: one line naming the flag, exit 2', () => {
  const cases: [string, string[], RegExp][] = [
    [
      'a bad date',
      ['backfill', '--symbols', 'AAPL', '--from', '2020-13-45'],
      /^tickline: --from: expected a date \(YYYY-MM-DD\), an ISO 8601 time or epoch milliseconds, not "2020-13-45"/,
    ],
    [
      'from after to',
      ['backfill', '--symbols', 'AAPL', '--from', '2021-01-01', '--to', '2020-01-01'],
      /^tickline: --from: expected a time before to \(from 2021-01-01T00:00:00.000Z is not before to 2020-01-02T00:00:00.000Z\)/,
    ],
    [
      'an unknown interval',
      ['backfill', '--symbols', 'AAPL', '--from', '2020-01-01', '--interval', '7m'],
      /^tickline: --interval: unknown interval "7m"/,
    ],
    [
      'an unknown source',
      ['backfill', '--source', 'bloomberg', '--symbols', 'AAPL', '--from', '2020-01-01'],
      /^tickline: --source: "bloomberg" is not one of yahoo, stooq/,
    ],
    [
      'a bad symbol',
      ['backfill', '--symbols', 'AA PL', '--from', '2020-01-01'],
      /^tickline: --symbols: "AA PL" is not a symbol/,
    ],
    [
      'a missing file',
      ['import', '/nonexistent/x.csv', '--symbol', 'X'],
      /^tickline: \/nonexistent\/x.csv: expected an existing CSV file/,
    ],
    [
      'a file that is not CSV',
      ['import', 'package-lock.json', '--symbol', 'X'],
      /^tickline: package-lock.json: expected a CSV file of bars with columns date, open, high, low, close/,
    ],
    [
      'a binary file',
      ['import', process.execPath, '--symbol', 'X'],
      /^tickline: \S+: expected a CSV text file, not binary data \(a NUL byte at offset \d+\)\n$/,
    ],
    [
      'a CSV without a symbol column, and no --symbol',
      ['import', join(ROOT, 'test', 'fixtures', 'csv', 'no-symbol.csv')],
      /^tickline: --symbol: expected a symbol for its rows, since \S+no-symbol.csv has no symbol column \(header: Date,Open,High,Low,Close,Volume\)\n$/,
    ],
    [
      'an unknown rule',
      ['quarantine', '--rule', 'bogus_rule'],
      /^tickline: --rule: "bogus_rule" is not a rule; expected one of /,
    ],
    [
      'a bad limit',
      ['quarantine', '--limit', '-3'],
      /^tickline: --limit: "-3" is not a whole number/,
    ],
    [
      'a bad interval filter',
      ['quarantine', '--interval', '2h'],
      /^tickline: --interval: unknown interval "2h"; expected one of 1s/,
    ],
    [
      'a bad format',
      ['query', 'SELECT 1', '--format', 'xml'],
      /^tickline: --format: "xml" is not one of table, csv, json/,
    ],
  ];
  for (const [what, args, message] of cases) {
    it(what, async () => {
      const dir = tempDir();
      const r = await runCli(args, env(dir));
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });
  }

  it('a bad config value names its path', async () => {
    const dir = tempDir();
    const cfg = join(dir, 'tickline.config.yaml');
    writeFileSync(cfg, 'quality:\n  maxJump: -1\n');
    const r = await runCli(['--config', cfg, 'status'], env(dir));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/tickline\.config\.yaml: quality\.maxJump: expected/);
  });

  it('bad SQL is one line with the database’s reason, exit 2', async () => {
    const r = await runCli(['query', 'SELEC nope'], env(tempDir()));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^tickline: SQL failed: Parser Error: syntax error at or near "SELEC"/,
    );
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('query --format csv writes numbers that read back as the same doubles; the table rounds', async () => {
    const sql =
      'SELECT 212.69000244140625::DOUBLE AS price, 1 / 3 AS third, 0.1::DOUBLE + 0.2::DOUBLE AS sum';
    const csv = await runCli(['query', sql, '--format', 'csv'], env(tempDir()));
    expect(csv.code, csv.stderr).toBe(0);
    const [, row] = csv.stdout.trim().split('\n');
    expect(row!.split(',').map(Number)).toEqual([212.69000244140625, 1 / 3, 0.1 + 0.2]);
    const table = await runCli(['query', sql], env(tempDir()));
    expect(table.stdout).toContain('212.6900024');
    expect(table.stdout).not.toContain('212.69000244140625');
  });

  it('takes epoch milliseconds, as the API does, and names epoch seconds as such', async () => {
    const r = await runCli(['quarantine', '--from', '1700000000'], env(tempDir()));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^tickline: --from: expected .* epoch milliseconds; "1700000000" looks like epoch seconds \(1700000000000 in milliseconds\)/,
    );
    const ok = await runCli(['quarantine', '--from', '1700000000000'], env(tempDir()));
    expect(ok.code, ok.stderr).toBe(0);
  });
});
