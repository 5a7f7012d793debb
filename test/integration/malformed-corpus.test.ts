/**
 * Must-show 3: every record of a malformed corpus lands in quarantine with its
 * rule and raw payload, while the good records of the same input are stored.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ingest } from '../../src/pipelines/ingest.ts';
import { CsvSource } from '../../src/sources/csv/csv-source.ts';
import { YahooSource } from '../../src/sources/yahoo/yahoo-source.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import { tempDir, withDb } from '../helpers/db.ts';
import { fixture, type ReplayServer, startReplayServer } from '../helpers/replay-server.ts';

// Real AAPL rows (@observablehq/sample-datasets aapl.csv, first rows), each bad one with one value broken.
const GOOD = [
  '2013-05-13,64.501427,65.414284,64.500000,64.962860,50.961628,79237200',
  '2013-05-14,64.835716,65.028572,63.164288,63.408573,49.742329,111779500',
  '2013-05-15,62.737144,63.000000,60.337143,61.264286,48.060577,185403400',
  '2013-05-16,60.462856,62.549999,59.842857,62.082859,48.702705,150801000',
];
const BAD: [rule: string, line: string][] = [
  ['not_finite', '2013-05-17,62.721428,NaN,62.031429,62.078571,48.699341,106976100'],
  ['non_positive_price', '2013-05-20,-61.701427,63.685715,61.442856,63.195713,49.575691,112894600'],
  ['non_positive_price', '2013-05-21,62.592857,63.665714,0,62.764286,49.237457,114005500'],
  [
    'high_low_inconsistent',
    '2013-05-22,63.435715,61.000000,62.941429,63.055714,49.466076,110759600',
  ],
  ['negative_volume', '2013-05-23,62.278572,63.392857,62.128571,63.157143,49.545609,-88255300'],
  ['missing_value', '2013-05-24,63.194286,63.954285,,63.924286,50.147434,69041700'],
  ['future_timestamp', '2999-05-28,64.494286,64.901428,63.601429,63.808571,50.056652,96536300'],
  ['malformed_row', '2013-05-29,"63.244286,64.140000,62.965714,63.569999,49.869518,82644100'],
  ['malformed_row', '2013-05-30,63.798573,65.301430,63.704285,64.650002'],
  ['bad_timestamp', 'yesterday,64.651428,65.065712,64.099998,64.470001,50.576298,79237200'],
  [
    'conflicting_duplicate',
    '2013-05-13,64.501427,65.414284,64.500000,65.000000,50.961628,79237200',
  ],
  ['price_jump', '2013-05-31,640.651428,650.065712,640.099998,640.470001,50.576298,79237200'],
];

let server: ReplayServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('malformed corpus', () => {
  it('CSV: each bad line is quarantined with its rule and untouched payload; good lines stored', async () => {
    const dir = tempDir();
    const file = join(dir, 'aapl-broken.csv');
    const lines = ['Date,Open,High,Low,Close,Adj Close,Volume', ...GOOD, ...BAD.map(([, l]) => l)];
    writeFileSync(file, `${lines.join('\n')}\n`);
    const store = await openStoreAt(join(dir, 'db.duckdb'));
    let summary: Awaited<ReturnType<typeof ingest>>;
    try {
      summary = await ingest(
        [
          {
            source: new CsvSource({ file }),
            request: { symbol: 'AAPL', interval: '1d', from: -8.64e15, to: 8.64e15 },
          },
        ],
        { store, quality: { maxJump: 1 } },
      );
    } finally {
      await store.close();
    }
    expect(summary.failed).toEqual([]);
    expect(summary.rows).toBe(GOOD.length);
    await withDb(join(dir, 'db.duckdb'), async (sql) => {
      const q = await sql('SELECT rule, payload, stage, symbol FROM quarantine');
      const got = q.map((r) => [r.rule, r.payload]).sort();
      expect(got).toEqual(BAD.map(([rule, line]) => [rule, line]).sort());
      expect(q.every((r) => r.symbol === 'AAPL')).toBe(true);
      const [n] = await sql(`SELECT count(*)::INTEGER AS n, max(close) AS hi FROM bars`);
      expect(n).toEqual({ n: GOOD.length, hi: 64.96286 });
    });
  });

  it('JSON: a non-JSON body and an empty response are quarantined raw; other symbols are stored', async () => {
    const html = '<html><body>Will be right back…</body></html>';
    server = await startReplayServer((url) => {
      if (url.pathname.endsWith('/BROKEN'))
        return [{ body: html, headers: { 'content-type': 'text/html' } }];
      if (url.pathname.endsWith('/EMPTY')) return [{ body: '' }];
      if (url.pathname.endsWith('/AAPL')) {
        return [
          {
            body: fixture('yahoo/yahoo-chart-AAPL-1d-2020-08-31_2020-11-06-splits-dividends.json'),
          },
        ];
      }
      return undefined;
    });
    const dir = tempDir();
    const store = await openStoreAt(join(dir, 'db.duckdb'));
    const source = new YahooSource({
      baseUrl: server.url,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5, timeoutMs: 1000 },
    });
    const req = {
      interval: '1d' as const,
      from: Date.parse('2020-08-31'),
      to: Date.parse('2020-11-07'),
    };
    let summary: Awaited<ReturnType<typeof ingest>>;
    try {
      summary = await ingest(
        ['BROKEN', 'EMPTY', 'AAPL'].map((symbol) => ({ source, request: { symbol, ...req } })),
        { store },
      );
    } finally {
      await store.close();
    }
    expect(summary.failed.map((f) => f.symbol).sort()).toEqual(['BROKEN', 'EMPTY']);
    expect(summary.failed.find((f) => f.symbol === 'BROKEN')!.error).toMatch(/not JSON/);
    expect(summary.results.find((r) => r.symbol === 'AAPL')!.rows).toBe(49);
    await withDb(join(dir, 'db.duckdb'), async (sql) => {
      const q = await sql('SELECT symbol, rule, stage, payload FROM quarantine ORDER BY symbol');
      expect(q).toEqual([
        { symbol: 'BROKEN', rule: 'malformed_response', stage: 'parse', payload: html },
        { symbol: 'EMPTY', rule: 'empty_response', stage: 'parse', payload: '' },
      ]);
    });
  });

  it('CSV bytes: BOM, NUL, invalid UTF-8, a quoted newline, another delimiter and huge numbers are each quarantined; the good rows stored', async () => {
    const dir = tempDir();
    const file = join(dir, 'bytes.csv');
    // 300 good rows first, so the NUL below is past the first 8 KiB (a NUL there means binary).
    const good = Array.from({ length: 300 }, (_, i) => {
      const d = new Date(Date.UTC(2000, 0, 3) + i * 86_400_000).toISOString().slice(0, 10);
      return `${d},10,11,9,10.5,10.5,${1000 + i}`;
    });
    const bad = [
      ['not_finite', Buffer.from('2001-06-01,10\u0000,11,9,10.5,10.5,100')],
      [
        'not_finite',
        Buffer.concat([
          Buffer.from('2001-06-02,10,1'),
          Buffer.from([0xff, 0xfe]),
          Buffer.from(',9,10.5,10.5,100'),
        ]),
      ],
      ['malformed_row', Buffer.from('2001-06-03,"10')],
      ['malformed_row', Buffer.from('5",11,9,10.5,10.5,100')],
      ['malformed_row', Buffer.from('2001-06-04;10;11;9;10.5;10.5;100')],
      ['not_finite', Buffer.from('2001-06-05,1e400,11,9,10.5,10.5,100')],
      ['not_finite', Buffer.from('2001-06-06,10,11,9,10.5,10.5,-1e999')],
    ] as const;
    writeFileSync(
      file,
      Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from(['Date,Open,High,Low,Close,Adj Close,Volume', ...good, ''].join('\n')),
        ...bad.flatMap(([, b]) => [b, Buffer.from('\n')]),
      ]),
    );
    const store = await openStoreAt(join(dir, 'db.duckdb'));
    try {
      const summary = await ingest(
        [
          {
            source: new CsvSource({ file }),
            request: { symbol: 'AAPL', interval: '1d', from: -8.64e15, to: 8.64e15 },
          },
        ],
        { store, quality: { maxJump: 1 } },
      );
      expect(summary.failed).toEqual([]);
      expect(summary.rows).toBe(good.length);
    } finally {
      await store.close();
    }
    await withDb(join(dir, 'db.duckdb'), async (sql) => {
      const q = await sql('SELECT rule FROM quarantine ORDER BY rule');
      expect(q.map((r) => r.rule)).toEqual(bad.map(([rule]) => rule).sort());
      const [n] = await sql('SELECT count(*)::INTEGER AS n FROM bars');
      expect(n).toEqual({ n: good.length });
    });
  });
});
