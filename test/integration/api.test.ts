/**
 * The REST API on a real server (127.0.0.1, random port) over a real DuckDB
 * file holding the bundled real daily history and a simulated live session.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import type { FastifyInstance } from 'fastify';
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/api/openapi.ts';
import { ROUTES } from '../../src/api/routes.ts';
import { createServer } from '../../src/api/server.ts';
import { loadDemoHistory } from '../../src/cli/commands/demo.ts';
import { loadConfig } from '../../src/core/config.ts';
import { MemoryLog } from '../../src/log/memory/memory-log.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { StreamPipeline } from '../../src/pipelines/stream.ts';
import { simulate } from '../../src/sources/simulator/simulator.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { tempDir } from '../helpers/db.ts';
import { LIVE_DEFAULTS, messageSource, tradesIn } from '../helpers/live.ts';
import { ResponseChecker } from '../helpers/openapi-check.ts';

const cfg = loadConfig({ cwd: '/', env: {} });
let store: Store;
let app: FastifyInstance;
let base: string;
let pipeline: StreamPipeline;
const metrics = new Metrics();

beforeAll(async () => {
  store = await openStoreAt(join(tempDir(), 'api.duckdb'));
  await loadDemoHistory(store, cfg.quality);
  // A simulated live session (with injected faults) through the real pipeline.
  const gen = simulate({
    symbols: ['AAPL', 'MSFT'],
    seed: 3,
    tradesPerSecond: 50,
    faultRate: 0.02,
    startTs: Date.UTC(2024, 5, 3, 14),
  });
  const log = new MemoryLog();
  pipeline = new StreamPipeline({
    source: messageSource(Array.from({ length: 3_000 }, () => gen.next().value!.text)),
    symbols: ['AAPL', 'MSFT'],
    store,
    log,
    live: LIVE_DEFAULTS,
    futureSkewMs: 60_000,
    onFlush: (ms) => metrics.storeWrite.observe(ms / 1000),
  });
  metrics.watch(pipeline);
  await pipeline.run();
  app = await createServer({
    store,
    cfg,
    metrics,
    live: () => ({ pipeline, logKind: log.kind, rate: () => 0 }),
    requireKeyForReads: false,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(async () => {
  await app?.close();
  await store?.close();
});

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Json = any;
let checker: ResponseChecker;
/** A GET whose answer is held to the OpenAPI document (status and schema). */
const get = async (path: string): Promise<{ status: number; type: string; body: Json }> => {
  const res = await fetch(`${base}${path}`);
  const type = res.headers.get('content-type') ?? '';
  const text = await res.text();
  checker ??= new ResponseChecker(openApiDocument(ROUTES, '0.0.0') as Record<string, unknown>);
  expect(checker.check('GET', path, res.status, type, text), path).toBeNull();
  return { status: res.status, type, body: type.includes('json') ? JSON.parse(text) : text };
};

describe('REST API', () => {
  it('reports health with the store and log ready', async () => {
    const r = await get('/api/health');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'ok',
      store: { ready: true, kind: 'duckdb' },
      log: { ready: true, kind: 'memory', backlog: 0 },
    });
  });

  it('lists what is stored per symbol and interval, with freshness', async () => {
    const r = await get('/api/symbols');
    const spx = r.body.symbols.find((s: { symbol: string }) => s.symbol === 'SPX');
    expect(spx).toMatchObject({
      interval: '1d',
      rows: 5_105,
      firstTs: Date.UTC(2000, 0, 3),
      lastTs: Date.UTC(2020, 3, 17),
    });
    expect(spx.freshnessMs).toBeGreaterThan(0);
    expect(
      r.body.symbols.some(
        (s: { symbol: string; interval: string }) => s.symbol === 'MSFT' && s.interval === '1s',
      ),
    ).toBe(true);
  });

  it('answers a series with nothing stored with no bars, in every format', async () => {
    const r = await get('/api/bars?symbol=SPX&interval=5m&order=desc&limit=1000&indicators=sma_20');
    expect(r.status).toBe(200);
    expect(r.body.bars).toEqual([]);
    expect(r.body.nextCursor).toBeNull();
    for (const format of ['csv', 'arrow', 'parquet']) {
      const f = await fetch(`${base}/api/bars?symbol=NOPE&interval=1m&format=${format}`);
      expect(f.status, format).toBe(200);
    }
  });

  it('pages bars by cursor: the pages joined are the whole range, with indicators', async () => {
    const all = await get(
      '/api/bars?symbol=SPX&interval=1d&from=2019-01-01&to=2019-12-31&limit=10000&indicators=sma_50,rsi_14',
    );
    expect(all.body.bars.length).toBe(251);
    expect(all.body.nextCursor).toBeNull();
    expect(Object.keys(all.body.bars[0].indicators)).toEqual(['sma_50', 'rsi_14']);
    const pages = [];
    let cursor = '';
    for (;;) {
      const p = await get(
        `/api/bars?symbol=SPX&interval=1d&from=2019-01-01&to=2019-12-31&limit=100&indicators=sma_50,rsi_14${cursor}`,
      );
      pages.push(...p.body.bars);
      if (!p.body.nextCursor) break;
      cursor = `&cursor=${p.body.nextCursor}`;
    }
    expect(pages).toEqual(all.body.bars);
  });

  it('writes JSON bars field for field as the store reads them, live and daily series alike', async () => {
    for (const [symbol, interval, atLeast] of [
      ['AAPL', '1s', 20],
      ['AAPL', '1m', 1],
      ['SPX', '1d', 1000],
    ] as const) {
      const indicators = ['sma_20', 'rsi_14', 'macd_hist', 'bb_upper'] as const;
      const r = await get(
        `/api/bars?symbol=${symbol}&interval=${interval}&limit=100000&indicators=${indicators.join(',')}`,
      );
      const want = await store.readEnrichedBars({ symbol, interval }, indicators);
      expect(want.length).toBeGreaterThanOrEqual(atLeast);
      expect(r.body.bars).toEqual(want);
      // Asked again (from the store's query cache), the same bytes.
      const again = await fetch(
        `${base}/api/bars?symbol=${symbol}&interval=${interval}&limit=100000&indicators=${indicators.join(',')}`,
      );
      expect(await again.json()).toEqual(r.body);
    }
    // An indicator asked for twice is still valid JSON (a repeated key, the same value).
    const twice = await get('/api/bars?symbol=SPX&interval=1d&limit=300&indicators=sma_20,sma_20');
    expect(twice.status).toBe(200);
    expect(twice.body.bars[299].indicators.sma_20).toBeCloseTo(
      twice.body.bars.slice(280, 300).reduce((a: number, b: Json) => a + b.close, 0) / 20,
      6,
    );
    if (store.queryCacheStats !== undefined) {
      expect((await get('/api/stats')).body.queryCache.hits).toBeGreaterThanOrEqual(3);
    }
  });

  it('encodes a repeated page once, and answers the new values after a write to its series', async () => {
    const bar = (day: number, close: number) => ({
      symbol: 'CACHED',
      interval: '1d' as const,
      ts: Date.UTC(2024, 0, day),
      open: 10,
      high: 20,
      low: 5,
      close,
      volume: 100,
      adjClose: null,
      source: 'test',
    });
    const write = (bars: ReturnType<typeof bar>[]) =>
      store.write({ raw: [], bars, rejects: [], actions: [], instruments: [] });
    await write([bar(2, 11), bar(3, 12), bar(4, 13)]);
    const q = '/api/bars?symbol=CACHED&interval=1d&limit=10';
    const closes = async (format: 'json' | 'csv') => {
      const r = await get(`${q}&format=${format}`);
      return format === 'json'
        ? r.body.bars.map((b: Json) => b.close)
        : (r.body as string)
            .trim()
            .split('\n')
            .slice(1)
            .map((l) => Number(l.split(',')[5]));
    };
    expect(await closes('json')).toEqual([11, 12, 13]);
    expect(await closes('csv')).toEqual([11, 12, 13]);
    const hits = (await get('/api/stats')).body.queryCache.hits as number;
    expect(await closes('json')).toEqual([11, 12, 13]);
    expect(await closes('csv')).toEqual([11, 12, 13]);
    // Both repeated pages came from the cache: the result, then its kept body.
    expect((await get('/api/stats')).body.queryCache.hits).toBe(hits + 4);
    // A correction and a new bar: neither format answers the kept body any more.
    await write([bar(3, 12.5), bar(5, 14)]);
    expect(await closes('json')).toEqual([11, 12.5, 13, 14]);
    expect(await closes('csv')).toEqual([11, 12.5, 13, 14]);
  });

  it('pages backwards from the newest bar with order=desc', async () => {
    const asc = (await get('/api/bars?symbol=SPX&interval=1d&from=2020-01-01&limit=10000')).body
      .bars;
    const newest = await get('/api/bars?symbol=SPX&interval=1d&order=desc&limit=30');
    expect(newest.body.bars.map((b: Json) => b.ts)).toEqual(
      asc
        .slice(-30)
        .reverse()
        .map((b: Json) => b.ts),
    );
    const older = await get(
      `/api/bars?symbol=SPX&interval=1d&order=desc&limit=30&cursor=${newest.body.nextCursor}`,
    );
    expect(older.body.bars.map((b: Json) => b.ts)).toEqual(
      asc
        .slice(-60, -30)
        .reverse()
        .map((b: Json) => b.ts),
    );
  });

  it('answers bars as CSV', async () => {
    const r = await get('/api/bars?symbol=AAPL&interval=1d&limit=3&format=csv&indicators=sma_20');
    expect(r.type).toContain('text/csv');
    const lines = (r.body as string).trim().split('\n');
    expect(lines[0]).toBe(
      'symbol,ts,open,high,low,close,volume,adj_close,vwap,trade_count,source,sma_20',
    );
    expect(lines.length).toBe(4);
    expect(lines[1]).toMatch(/^AAPL,2013-05-13T00:00:00.000Z,/);
    // Every cell is the JSON answer's value (empty for null), a live series with vwap included.
    for (const [symbol, interval] of [
      ['AAPL', '1s'],
      ['SPX', '1d'],
    ]) {
      const q = `symbol=${symbol}&interval=${interval}&limit=5000&indicators=sma_20,macd`;
      const csv = ((await get(`/api/bars?${q}&format=csv`)).body as string).trim().split('\n');
      const bars = (await get(`/api/bars?${q}`)).body.bars as Json[];
      expect(csv.length).toBe(bars.length + 1);
      // Cells read back as the JSON answer's numbers (both print a computed value's 17 digits
      // where String(x) may print 16: the same double).
      const cell = (v: string) => (v === '' ? null : Number(v));
      bars.forEach((b, i) => {
        const [sym, ts, ...rest] = csv[i + 1]!.split(',');
        const source = rest.splice(8, 1)[0];
        expect(sym).toBe(symbol);
        expect(source).toBe(b.source);
        expect([ts, ...rest.map(cell)]).toEqual(
          [
            new Date(b.ts).toISOString(),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume,
            b.adjClose,
            b.vwap,
            b.tradeCount,
            b.indicators.sma_20,
            b.indicators.macd,
          ].map((v) => v ?? null),
        );
      });
    }
  });

  it('answers bars as Parquet and Arrow with the CSV’s columns, UTC timestamps and nulls', async () => {
    // The series' first bars: sma_50 is missing (null) until its window is full.
    const url = '/api/bars?symbol=SPX&interval=1d&limit=300&indicators=sma_50';
    const json = (await get(url)).body.bars;
    const csvHeader = ((await get(`${url}&format=csv`)).body as string).split('\n')[0]!.split(',');
    const want = json.map((b: Json) => [b.ts, b.close, b.indicators.sma_50 ?? null]);
    expect(want.some((r: unknown[]) => r[2] === null)).toBe(true);

    // Parquet, read by an independent reader (hyparquet).
    const pq = await fetch(`${base}${url}&format=parquet`);
    expect(pq.headers.get('content-type')).toBe('application/vnd.apache.parquet');
    const buf = await pq.arrayBuffer();
    const meta = parquetMetadata(buf);
    const schema = parquetSchema(meta);
    expect(schema.children.map((c) => c.element.name)).toEqual(csvHeader);
    const ts = schema.children.find((c) => c.element.name === 'ts')!.element;
    expect(ts.logical_type).toMatchObject({ type: 'TIMESTAMP', isAdjustedToUTC: true });
    const rows = (await parquetReadObjects({ file: buf, compressors })) as Json[];
    expect(rows.map((r) => [(r.ts as Date).getTime(), r.close, r.sma_50])).toEqual(want);
    expect(rows[0]).toMatchObject({ symbol: 'SPX', source: json[0].source });

    // Arrow, read with apache-arrow.
    const ar = await fetch(`${base}${url}&format=arrow`);
    expect(ar.headers.get('content-type')).toBe('application/vnd.apache.arrow.stream');
    const table = tableFromIPC(new Uint8Array(await ar.arrayBuffer()));
    expect(table.numRows).toBe(json.length);
    expect(table.schema.fields.map((f) => f.name)).toEqual(csvHeader);
    const field = (name: string) => table.schema.fields.find((f) => f.name === name)!;
    expect(String(field('ts').type)).toBe('Timestamp<MILLISECOND, UTC>');
    expect(field('ts').nullable).toBe(false);
    expect(field('close').nullable).toBe(false);
    expect(field('sma_50').nullable).toBe(true);
    expect(String(field('symbol').type)).toBe('Dictionary<Int32, Utf8>');
    expect(String(field('trade_count').type)).toBe('Int32');
    expect(table.getChild('sma_50')!.nullCount).toBe(
      want.filter((r: unknown[]) => r[2] === null).length,
    );
    const back = table.toArray().map((r) => r.toJSON() as Json);
    expect(back.map((r) => [r.ts, r.close, r.sma_50])).toEqual(want);
    expect(back[0]).toMatchObject({ symbol: 'SPX', source: json[0].source, vwap: null });
  });

  it('exports a layer as one file download, filtered', async () => {
    const res = await fetch(`${base}/api/export?layer=staging&symbol=AAPL&interval=1d&format=csv`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(
      'attachment; filename="staging-AAPL-1d.csv"',
    );
    const lines = (await res.text()).trim().split('\n');
    expect(lines[0]).toMatch(
      /^symbol,interval,ts,open,high,low,close,volume,adj_close,source,ingested_at,vwap,trade_count,backfilled$/,
    );
    expect(lines.length).toBe(1 + 1_260);
    const pq = await fetch(`${base}/api/export?layer=trades&symbol=MSFT`);
    const file = join(tempDir(), 'trades.parquet');
    writeFileSync(file, Buffer.from(await pq.arrayBuffer()));
    const [row] = (
      await store.capability('sql').sql(`SELECT count(*) AS n FROM read_parquet('${file}')`)
    ).rows;
    expect(Number(row!.n)).toBe((await store.readTrades({ symbol: 'MSFT' })).length);
    const actions = await fetch(`${base}/api/export?layer=corporate_actions&format=csv`);
    expect(actions.status).toBe(200);
    expect((await actions.text()).split('\n')[0]).toBe('symbol,ts,kind,value,source');
    const bad = await get('/api/export?layer=trades&interval=1m');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toBe('interval: the trades layer has no interval');
  });

  it('pages trades by cursor without losing or repeating one', async () => {
    const all = (await get('/api/trades?symbol=AAPL&limit=10000')).body.trades;
    expect(all.length).toBeGreaterThan(500);
    const paged = [];
    let cursor = '';
    for (;;) {
      const p = await get(`/api/trades?symbol=AAPL&limit=97${cursor}`);
      paged.push(...p.body.trades);
      if (!p.body.nextCursor) break;
      cursor = `&cursor=${p.body.nextCursor}`;
    }
    expect(paged).toEqual(all);
  });

  it('filters the quarantine by rule and stage, with raw payloads', async () => {
    const all = (await get('/api/quarantine?limit=1000')).body.rows;
    expect(all.length).toBeGreaterThan(10);
    const parse = (await get('/api/quarantine?stage=parse&limit=1000')).body.rows;
    expect(parse.length).toBeGreaterThan(0);
    expect(parse.every((q: { rule: string }) => q.rule === 'malformed_message')).toBe(true);
    const late = (await get('/api/quarantine?rule=late_trade')).body.rows;
    expect(
      late.every((q: { payload: string }) => typeof JSON.parse(q.payload).t === 'number'),
    ).toBe(true);
    // Trades' rejects have no interval; a bar interval filters them out.
    expect(late.every((q: { interval: string | null }) => q.interval === null)).toBe(true);
    await store.write({
      raw: [],
      bars: [],
      rejects: [{ ...late[0], interval: '1h', payload: 'bar,of,an,hour', rule: 'not_finite' }],
      actions: [],
      instruments: [],
    });
    const hourly = (await get('/api/quarantine?interval=1h')).body.rows;
    expect(hourly.map((q: { payload: string }) => q.payload)).toEqual(['bar,of,an,hour']);
    await store.capability('quarantine').deleteQuarantine(hourly[0].id); // the counts other tests check stay the pipeline's
  });

  it('counts rejects per rule per time bucket', async () => {
    const r = await get('/api/quarantine/histogram?bucket=1d');
    const total: Record<string, number> = {};
    for (const p of r.body.points) total[p.rule] = (total[p.rule] ?? 0) + p.n;
    expect(total).toEqual(await store.capability('quarantine').rejectCounts());
    expect(r.body.points.every((p: Json) => p.ts % 86_400_000 === 0)).toBe(true);
    expect((await get('/api/quarantine/histogram?bucket=2m')).status).toBe(400);
  });

  it('gives rows per layer, rejects per rule and the live rates', async () => {
    const r = await get('/api/stats');
    expect(r.body.rows.bars).toBeGreaterThan(6_000);
    expect(r.body.rows.trades).toBe(pipeline.stats.store.tradesStored);
    expect(r.body.rejectsByRule).toEqual(pipeline.stats.rejectsByRule);
    expect(r.body.live).toMatchObject({
      tradesIn: pipeline.stats.tradesIn,
      barsClosed: pipeline.stats.barsClosed,
    });
  });

  it('names the bad parameter and what is expected, with 400', async () => {
    const cases: [string, string, RegExp][] = [
      ['/api/bars', 'symbol', /symbol: expected a value/],
      ['/api/bars?symbol=AAPL&interval=2s', 'interval', /interval: expected one of 1s, 1m, 5m/],
      ['/api/bars?symbol=AAPL&limit=0', 'limit', /limit: expected a whole number from 1 to 100000/],
      ['/api/bars?symbol=AAPL&limit=200000', 'limit', /from 1 to 100000/],
      ['/api/bars?symbol=AAPL&from=yesterday', 'from', /from: expected a date \(YYYY-MM-DD\)/],
      // One rule for times on the CLI and in the API: epoch milliseconds, seconds named as such.
      [
        '/api/bars?symbol=AAPL&from=1700000000',
        'from',
        /from: expected .*"1700000000" looks like epoch seconds \(1700000000000 in milliseconds\)/,
      ],
      // An unknown rule is refused, as the CLI's --rule is, not answered with nothing.
      [
        '/api/quarantine?rule=bogus_rule',
        'rule',
        /rule: "bogus_rule" is not a rule; expected one of/,
      ],
      ['/api/quarantine/histogram?rule=bogus_rule', 'rule', /"bogus_rule" is not a rule/],
      ['/api/bars?symbol=AAPL&indicators=sma_20,foo', 'indicators', /"foo" is not an indicator/],
      [
        '/api/bars?symbol=AAPL&format=xml',
        'format',
        /format: expected one of json, csv, parquet, arrow/,
      ],
      ['/api/export?layer=lake', 'layer', /layer: expected one of raw, staging, curated, trades/],
      [
        '/api/export?layer=raw&symbol=AAPL',
        'symbol',
        /symbol: the raw layer is not split by symbol/,
      ],
      ['/api/bars?symbol=AAPL&cursor=!!', 'cursor', /cursor: expected a cursor/],
      [
        '/api/bars?symbol=AAPL&cursor=abc',
        'cursor',
        /cursor: is not a cursor this endpoint returned/,
      ],
      ['/api/bars?symbol=A%20B', 'symbol', /symbol: expected a symbol/],
      ['/api/bars?symbol=AAPL&bogus=1', 'bogus', /bogus: no such parameter/],
      ['/api/trades?symbol=AAPL&symbol=MSFT', 'symbol', /symbol: expected/],
      ['/api/quarantine?stage=load', 'stage', /stage: expected one of parse, validate, decode/],
      ['/api/quarantine?interval=2h', 'interval', /interval: expected one of/],
    ];
    for (const [path, parameter, message] of cases) {
      const r = await get(path);
      expect(r.status, path).toBe(400);
      expect(r.body.error, path).toBe('bad_parameter');
      expect(r.body.parameter, path).toBe(parameter);
      expect(r.body.message, path).toMatch(message);
    }
  });

  it('shows the live edge: bars not final yet, while the pipeline runs', async () => {
    const gen = simulate({
      symbols: ['NVDA'],
      seed: 9,
      tradesPerSecond: 20,
      startTs: Date.UTC(2024, 5, 4, 14),
    });
    const messages = Array.from({ length: 200 }, () => gen.next().value!.text);
    const stop = new AbortController();
    const log = new MemoryLog();
    // Every trade of the messages validated: then the windows hold them.
    const want = tradesIn(messages).length;
    let validated = 0;
    let allIn: () => void = () => {};
    const processed = new Promise<void>((resolve) => {
      allIn = resolve;
    });
    const live = new StreamPipeline({
      // Hands over the messages, then waits (a feed that is still open) until stopped.
      source: {
        name: 'finnhub',
        async *live(symbols, opts) {
          yield* messageSource(messages).live(symbols, opts ?? {});
          await new Promise((r) => opts?.signal?.addEventListener('abort', r));
        },
      },
      symbols: ['NVDA'],
      store,
      log,
      live: LIVE_DEFAULTS,
      futureSkewMs: 60_000,
      signal: stop.signal,
      onEvent: (e) => {
        if (e.kind !== 'trades') return;
        validated += e.trades.length;
        if (validated >= want) allIn();
      },
    });
    const running = live.run();
    const liveApp = await createServer({
      store,
      cfg,
      metrics: new Metrics(),
      live: () => ({ pipeline: live, logKind: 'memory', rate: () => 0 }),
      requireKeyForReads: false,
    });
    await liveApp.listen({ host: '127.0.0.1', port: 0 });
    const addr = liveApp.server.address();
    const liveBase = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    await processed;
    const forming: Json[] = (
      await (await fetch(`${liveBase}/api/forming?symbol=NVDA&interval=1m`)).json()
    ).bars;
    expect(forming.length).toBeGreaterThan(0);
    expect(forming.every((b) => b.symbol === 'NVDA' && b.interval === '1m')).toBe(true);
    const last = JSON.parse(messages.at(-1)!).data[0];
    expect(forming.at(-1).close).toBe(last.p);
    stop.abort();
    await running;
    await liveApp.close();
    await log.close();
  });

  it('answers an unknown route with a JSON 404', async () => {
    const r = await get('/api/nope');
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: 'not_found', message: 'no route GET /api/nope' });
  });

  it('documents every endpoint in the OpenAPI document and the docs page', async () => {
    const doc = (await get('/api/openapi.json')).body;
    expect(doc.openapi).toBe('3.1.0');
    for (const path of [
      '/api/health',
      '/api/symbols',
      '/api/bars',
      '/api/trades',
      '/api/quarantine',
      '/api/stats',
      '/api/forming',
      '/api/export',
      '/api/jobs/{id}',
    ]) {
      expect(doc.paths[path]?.get, path).toBeDefined();
    }
    expect(doc.paths['/api/backfill'].post).toBeDefined();
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
      for (const op of Object.values(ops)) expect(op.summary, path).toMatch(/\w/);
    }
    expect(doc.paths['/api/jobs/{id}'].get.parameters).toContainEqual(
      expect.objectContaining({ name: 'id', in: 'path', required: true }),
    );
    expect(
      doc.paths['/api/backfill'].post.requestBody.content['application/json'].schema.required,
    ).toEqual(['symbols', 'from']);
    const bars = doc.paths['/api/bars'].get;
    expect(bars.parameters.map((p: { name: string }) => p.name)).toEqual([
      'symbol',
      'interval',
      'from',
      'to',
      'limit',
      'indicators',
      'format',
      'order',
      'cursor',
    ]);
    expect(bars.parameters[0].required).toBe(true);
    expect(Object.keys(bars.responses['200'].content)).toEqual([
      'application/json',
      'text/csv',
      'application/vnd.apache.parquet',
      'application/vnd.apache.arrow.stream',
    ]);
    expect(doc.paths['/api/export'].get).toBeDefined();
    // Every parameter and body field says what it means; bodies, security and errors are described.
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
      for (const op of Object.values(ops)) {
        for (const p of op.parameters) expect(p.description, `${path} ${p.name}`).toMatch(/\w/);
        if (op.requestBody) {
          const props = op.requestBody.content['application/json'].schema.properties ?? {};
          for (const [k, v] of Object.entries(props as Record<string, Json>)) {
            expect(v.description, `${path} body ${k}`).toMatch(/\w/);
          }
        }
      }
    }
    expect(doc.components.securitySchemes.bearerKey).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    });
    expect(doc.paths['/api/backfill'].post.security).toEqual([{ bearerKey: [] }, { session: [] }]);
    expect(Object.keys(doc.paths['/api/backfill'].post.responses)).toEqual(
      expect.arrayContaining(['400', '401', '403', '429']),
    );
    expect(doc.paths['/api/health'].get.security).toEqual([]);
    expect(doc.paths['/api/backfill'].post.requestBody.content['application/json'].example).toEqual(
      {
        source: 'yahoo',
        symbols: ['AAPL', 'MSFT'],
        interval: '1d',
        from: '2024-01-02',
      },
    );
    // Redocly's own linter finds nothing to say with its recommended rules.
    const { createConfig, lintFromString } = await import('@redocly/openapi-core');
    const problems = await lintFromString({
      source: JSON.stringify(doc),
      absoluteRef: '/api/openapi.json',
      config: await createConfig({ extends: ['recommended'] }),
    });
    expect(problems.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([]);
    // The reference page is Redoc, served from this server (no CDN).
    const page = await get('/api/docs');
    expect(page.type).toContain('text/html');
    expect(page.body).toContain('<script src="/vendor/redoc.standalone.js"></script>');
    expect(page.body).not.toMatch(/https?:\/\//);
    const bundle = await fetch(`${base}/vendor/redoc.standalone.js`);
    expect(bundle.status).toBe(200);
    // Read whole: an unread body would hold the connection, and the server's close would wait.
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
  });

  it('exposes Prometheus metrics: stages, rejects by rule, store writes, HTTP requests, process', async () => {
    await get('/api/health');
    const text = (await get('/metrics')).body as string;
    expect(text).toContain(
      `tickline_stage_records_total{stage="source",outcome="in"} ${pipeline.stats.tradesIn}`,
    );
    for (const [rule, n] of Object.entries(pipeline.stats.rejectsByRule)) {
      expect(text).toContain(`tickline_quarantined_total{rule="${rule}"} ${n}`);
    }
    expect(text).toMatch(/tickline_store_write_seconds_count \d+/);
    expect(text).toMatch(
      /tickline_http_requests_total\{route="\/api\/health",method="GET",status="200"\} \d+/,
    );
    expect(text).toContain('tickline_process_resident_memory_bytes');
    expect(text).toContain('tickline_ingest_lag_seconds');
  });
});
