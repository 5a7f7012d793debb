/**
 * The REST routes, declared once: the server registers them and the
 * OpenAPI document is generated from the same list.
 */

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { RecordBatchStreamWriter } from 'apache-arrow';
import { z } from 'zod';
import { intervalMs, isDailyOrLonger } from '../core/time.ts';
import { sessionsBehind } from '../pipelines/gaps.ts';
import { ruleProblem } from '../quality/rules.ts';
import {
  type ApiKeyRecord,
  type BarColumnSet,
  barColumnNames,
  type FileExportOptions,
  isBarSeries,
  statusKind,
  TRADES_ROW,
} from '../store/store.ts';
import {
  BarsQuerySchema,
  BarsResponseSchema,
  EmptyQuerySchema,
  ExportQuerySchema,
  FormingQuerySchema,
  FormingResponseSchema,
  HealthResponseSchema,
  KeyCreateBodySchema,
  KeyCreatedResponseSchema,
  KeyIdParamsSchema,
  KeysResponseSchema,
  QuarantineIdParamsSchema,
  QuarantineQuerySchema,
  QuarantineResponseSchema,
  RejectHistogramQuerySchema,
  RejectHistogramResponseSchema,
  ReplayResponseSchema,
  StatsResponseSchema,
  SymbolsResponseSchema,
  TradesQuerySchema,
  TradesResponseSchema,
} from './api-schemas.ts';
import { BAR_VALUE_COLUMNS, barsArrowTable } from './arrow-bars.ts';
import { type AsciiWriter, type RowText, writeRows } from './ascii-writer.ts';
import { newApiKey } from './auth.ts';
import type { ApiContext } from './context.ts';
import { PIPELINE_ROUTES } from './pipeline-routes.ts';
import { isReplayable, replayQuarantined } from './replay.ts';
import { BadParameter, type RouteDef, route } from './route-def.ts';
import { SESSION_ROUTES } from './session-routes.ts';

export { BadParameter, type RouteDef, type RouteReply, route } from './route-def.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64url');
const unb64 = (s: string): string => Buffer.from(s, 'base64url').toString('utf8');

/** Has the store write a file into a temporary folder, reads it, and removes it. */
async function viaFile(ctx: ApiContext, o: Omit<FileExportOptions, 'file'>): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'tickline-export-'));
  try {
    const file = join(dir, `out.${o.format}`);
    await ctx.store.capability('export').exportFile({ ...o, file });
    return await readFile(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The JSON body of a bars page: the first `n` bars of a column set as objects
 * (the shape of BarsResponseSchema), written as bytes straight from the typed
 * columns, with no object or string per bar; the bars `set` reuses from an
 * earlier result are copied from that result's body (`prior`).
 */
function barsJsonBody(
  symbol: string,
  interval: string,
  set: BarColumnSet,
  n: number,
  indicators: readonly string[],
  next: string | null,
  prior?: RowText,
): RowText {
  const c = set.columns;
  const [ts, open, high, low, close, volume, vwap, adj, count, filled, src] = barColumnNames(
    [],
    true,
  ).map((k) => c[k]!) as Float64Array[];
  // Every key and constant is encoded once, then copied per bar.
  const enc = (t: string) => Buffer.from(t);
  const ind = indicators.map(
    (k, j) => [enc(`${j ? ',' : ''}${JSON.stringify(k)}:`), c[k]!] as const,
  );
  const sources = set.sources.map((x) => enc(JSON.stringify(x)));
  const NULL = enc('null');
  const K = {
    head: enc(`{"symbol":${JSON.stringify(symbol)},"interval":${JSON.stringify(interval)},"ts":`),
    open: enc(',"open":'),
    high: enc(',"high":'),
    low: enc(',"low":'),
    close: enc(',"close":'),
    volume: enc(',"volume":'),
    adjClose: enc(',"adjClose":'),
    source: enc(',"source":'),
    vwap: enc(',"vwap":'),
    tradeCount: enc(',"tradeCount":'),
    backfilled: enc(',"backfilled":true'),
    indicators: enc(',"indicators":{'),
  };
  const row = (w: AsciiWriter, i: number) => {
    w.bytes(K.head).number(ts![i]!);
    w.bytes(K.open).number(open![i]!);
    w.bytes(K.high).number(high![i]!);
    w.bytes(K.low).number(low![i]!);
    w.bytes(K.close).number(close![i]!);
    w.bytes(K.volume).number(volume![i]!);
    w.bytes(K.adjClose).number(adj![i]!);
    w.bytes(K.source).bytes(sources[src![i]!] ?? NULL);
    if (!Number.isNaN(vwap![i]!)) w.bytes(K.vwap).number(vwap![i]!);
    if (!Number.isNaN(count![i]!)) w.bytes(K.tradeCount).number(count![i]!);
    if (filled![i] === 1) w.bytes(K.backfilled);
    if (ind.length > 0) {
      w.bytes(K.indicators);
      for (const [key, col] of ind) w.bytes(key).number(col[i]!);
      w.ascii('}');
    }
    w.ascii('}');
  };
  return writeRows(
    Buffer.from(
      `{"symbol":${JSON.stringify(symbol)},"interval":${JSON.stringify(interval)},"bars":[`,
    ),
    Buffer.from(`],"nextCursor":${next === null ? 'null' : `"${next}"`}}`),
    n,
    COMMA,
    row,
    280 + 32 * ind.length, // enough for 17-digit numbers
    prior,
    set.reused,
  );
}

const COMMA = Buffer.from(',');

/**
 * A body encoded from a bars result, kept with the result in the store's
 * query cache: the same page asked for again is not encoded again, and the
 * page of a result patched from a stale one (a new bar) copies the rows it
 * reuses from the stale one's body. (The result's key holds symbol,
 * interval, range, order and indicators; `name` adds the format and the
 * page size.)
 */
function encodedOnce(
  ctx: ApiContext,
  set: BarColumnSet,
  name: string,
  make: (prior?: RowText) => RowText,
): { body: Readable; headers: Record<string, string> } {
  const b = ctx.store.deriveFromBars ? ctx.store.deriveFromBars(set, name, make) : make();
  // Head, rows and tail written out one after another: the rows are never copied into one body.
  return {
    body: Readable.from([b.head, b.text, b.tail], { objectMode: false }),
    headers: { 'content-length': String(b.head.length + b.text.length + b.tail.length) },
  };
}

/** The CSV body of a bars page (empty cells for NULL), written like barsJsonBody. */
function barsCsvBody(
  symbol: string,
  set: BarColumnSet,
  n: number,
  indicators: readonly string[],
  prior?: RowText,
): RowText {
  const names = [...BAR_VALUE_COLUMNS];
  const cols = names.map((k) => set.columns[k]!);
  const ind = indicators.map((k) => set.columns[k]!);
  const ts = set.columns.ts!;
  const src = set.columns.source!;
  const symbolCell = Buffer.from(`${csvCell(symbol)},`);
  const sources = set.sources.map((x) => Buffer.from(csvCell(x)));
  const cells = (w: AsciiWriter, i: number, of: readonly Float64Array[]) => {
    for (const c of of) {
      w.ascii(',');
      if (!Number.isNaN(c[i]!)) w.number(c[i]!);
    }
  };
  const row = (w: AsciiWriter, i: number) => {
    w.bytes(symbolCell);
    w.ascii(new Date(ts[i]!).toISOString());
    cells(w, i, cols);
    w.ascii(',');
    const source = sources[src[i]!];
    if (source) w.bytes(source);
    cells(w, i, ind);
    w.ascii('\n');
  };
  return writeRows(
    Buffer.from(`symbol,ts,${names.join(',')},source${indicators.map((k) => `,${k}`).join('')}\n`),
    NOTHING,
    n,
    NOTHING,
    row,
    60 + 20 * (cols.length + ind.length),
    prior,
    set.reused,
  );
}

/** A CSV cell: quoted when it holds a comma, quote or line break. */
function csvCell(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

const NOTHING = Buffer.alloc(0);

/** What the API shows of a key record: never its salt or hash. */
function keyInfo({
  salt: _s,
  hash: _h,
  ...info
}: ApiKeyRecord): Omit<ApiKeyRecord, 'salt' | 'hash'> {
  return info;
}

/**
 * A rule filter, refused (400) when it names no rule: the same check as the
 * CLI's --rule (src/quality/rules.ts), so a typo is not answered with nothing.
 */
async function knownRule(ctx: ApiContext, rule: string | undefined): Promise<{ rule?: string }> {
  if (rule === undefined) return {};
  const stored = Object.keys(await ctx.store.capability('quarantine').rejectCounts());
  const bad = ruleProblem(rule, stored);
  if (bad) throw new BadParameter('rule', bad);
  return { rule };
}

export const ROUTES: RouteDef[] = [
  ...SESSION_ROUTES,
  ...PIPELINE_ROUTES,
  route({
    method: 'POST',
    path: '/api/keys',
    audit: 'keys.create',
    capability: 'keys',
    summary: 'Creates an API key (admin); the key is in this answer only',
    scope: 'admin',
    query: EmptyQuerySchema,
    body: KeyCreateBodySchema,
    bodyExample: { scope: 'read', name: 'grafana' },
    response: KeyCreatedResponseSchema,
    status: 201,
    handler: async (ctx, _q, { body }) => {
      const { key, record } = newApiKey(body.scope, body.name);
      await ctx.store.capability('keys').putApiKey(record);
      return { status: 201, body: { ...keyInfo(record), key } };
    },
  }),
  route({
    method: 'GET',
    path: '/api/keys',
    capability: 'keys',
    summary: 'Lists API keys: ids, scopes, names (admin; never the keys)',
    scope: 'admin',
    query: EmptyQuerySchema,
    response: KeysResponseSchema,
    handler: async (ctx) => ({
      body: {
        keys: (await ctx.store.capability('keys').listApiKeys()).map(keyInfo),
      },
    }),
  }),
  route({
    method: 'POST',
    path: '/api/keys/:id/revoke',
    audit: 'keys.revoke',
    capability: 'keys',
    summary: 'Revokes an API key (admin)',
    scope: 'admin',
    query: EmptyQuerySchema,
    params: KeyIdParamsSchema,
    response: KeysResponseSchema,
    handler: async (ctx, _q, { params }) => {
      if (!(await ctx.store.capability('keys').revokeApiKey(params.id))) {
        return { status: 404, body: { error: 'not_found', message: `no active key ${params.id}` } };
      }
      ctx.keys.forget();
      ctx.sessions.endForKey(params.id);
      return {
        body: {
          keys: (await ctx.store.capability('keys').listApiKeys())
            .filter((k) => k.id === params.id)
            .map(keyInfo),
        },
      };
    },
  }),
  route({
    method: 'GET',
    path: '/api/health',
    summary:
      'Liveness, and readiness of the store and the log. Open to all (probes); without a key the reasons and the backlog are left out',
    scope: 'public',
    query: EmptyQuerySchema,
    response: HealthResponseSchema,
    handler: async (ctx, _q, { http }) => {
      let store: { ready: boolean; kind: string; error?: string } = {
        ready: true,
        kind: ctx.store.kind,
      };
      try {
        await ctx.store.ping();
      } catch (err) {
        store = { ready: false, kind: ctx.store.kind, error: (err as Error).message };
      }
      let log: { ready: boolean; kind: string | null; backlog: number | null; error?: string } = {
        ready: true,
        kind: null,
        backlog: null,
      };
      if (ctx.live) {
        try {
          log = { ready: true, kind: ctx.live.logKind, backlog: await ctx.live.pipeline.backlog() };
        } catch (err) {
          // A broker that does not answer: the log is not ready.
          log = {
            ready: false,
            kind: ctx.live.logKind,
            backlog: null,
            error: (err as Error).message,
          };
        }
      }
      const ok = store.ready && log.ready;
      if (http.caller === 'public') {
        // Liveness only for an unauthenticated prober: no error texts (they name hosts), no backlog.
        delete store.error;
        delete log.error;
        log.backlog = null;
      }
      return {
        status: ok ? 200 : 503,
        body: {
          status: ok ? 'ok' : 'degraded',
          store,
          log,
          uptimeSeconds: (Date.now() - ctx.startedAt) / 1000,
        },
      };
    },
  }),
  route({
    method: 'GET',
    path: '/api/symbols',
    summary: 'What is stored: per symbol and interval, rows, first and last ts, freshness, rejects',
    query: EmptyQuerySchema,
    response: SymbolsResponseSchema,
    handler: async (ctx) => {
      const now = Date.now();
      const rows = await ctx.store.status();
      // Gaps by each symbol's calendar: daily series over their whole span, intraday ones
      // over their last 5 sessions.
      const gaps = new Map<string, number>();
      for (const interval of [...new Set(rows.map((r) => r.interval))]) {
        for (const g of await ctx.pipelines.gaps({ interval, recentSessions: 5 })) {
          if (g.reason !== null) continue;
          const k = `${g.symbol}\u0000${g.interval}`;
          gaps.set(k, (gaps.get(k) ?? 0) + g.missing);
        }
      }
      const num = (v: number): number | null => (Number.isFinite(v) ? v : null);
      return {
        body: {
          symbols: rows.map((r) => ({
            symbol: r.symbol,
            interval: r.interval === TRADES_ROW ? 'trades' : r.interval,
            kind: statusKind(r),
            rows: r.rows,
            firstTs: num(r.firstTs),
            lastTs: num(r.lastTs),
            freshnessMs: Number.isFinite(r.lastTs) ? now - r.lastTs : null,
            calendar: ctx.pipelines.calendars.nameFor(r.symbol),
            sessionsBehind:
              Number.isFinite(r.lastTs) && isBarSeries(r)
                ? sessionsBehind(ctx.pipelines.calendars, r.symbol, r.interval, r.lastTs, now)
                : null,
            gaps:
              isBarSeries(r) && (r.interval === '1d' || !isDailyOrLonger(r.interval))
                ? (gaps.get(`${r.symbol}\u0000${r.interval}`) ?? 0)
                : null,
            rejects: r.rejects,
          })),
        },
      };
    },
  }),
  route({
    method: 'GET',
    path: '/api/bars',
    summary: 'Bars of one series in ts order, optionally with indicators; paged by cursor',
    query: BarsQuerySchema,
    response: BarsResponseSchema,
    formats: ['text/csv', 'application/vnd.apache.parquet', 'application/vnd.apache.arrow.stream'],
    handler: async (ctx, q) => {
      let from = q.from;
      let to = q.to;
      if (q.cursor) {
        const edge = Number(unb64(q.cursor));
        if (!Number.isSafeInteger(edge)) {
          throw new BadParameter('cursor', 'is not a cursor this endpoint returned');
        }
        // Ascending pages continue after the last bar; descending ones before it.
        if (q.order === 'desc') to = edge;
        else from = edge + 1;
      }
      const query = {
        symbol: q.symbol,
        interval: q.interval,
        ...(from !== undefined ? { from } : {}),
        ...(to !== undefined ? { to } : {}),
        limit: q.limit + 1,
        order: q.order,
      };
      if (q.format === 'parquet') {
        const body = await viaFile(ctx, {
          layer: 'curated',
          format: 'parquet',
          symbol: q.symbol,
          interval: q.interval,
          ...(from !== undefined ? { from } : {}),
          ...(to !== undefined ? { to } : {}),
          limit: q.limit,
          // The CSV and Arrow answers' columns, the requested indicators among them.
          columns: ['symbol', 'ts', ...BAR_VALUE_COLUMNS, 'source', ...(q.indicators ?? [])],
        });
        return { contentType: 'application/vnd.apache.parquet', body };
      }
      if (q.format === 'arrow') {
        // Columns straight from the store into Arrow: no object per bar.
        const set = await ctx.store.readBarColumns(query, q.indicators ?? [], true);
        const n = Math.min(set.rows, q.limit);
        return {
          contentType: 'application/vnd.apache.arrow.stream',
          headers:
            set.rows > q.limit
              ? ({ 'x-next-cursor': b64(String(set.columns.ts![n - 1])) } as Record<string, string>)
              : {},
          // The IPC stream's chunks are the columns' own memory: written out, not concatenated.
          body: RecordBatchStreamWriter.writeAll(
            barsArrowTable(q.symbol, set, n, q.indicators ?? []),
          ).toNodeStream(),
        };
      }
      if (q.format === 'json') {
        // JSON written straight from the typed columns: no object per bar.
        const set = await ctx.store.readBarColumns(query, q.indicators ?? [], true);
        const n = Math.min(set.rows, q.limit);
        const next = set.rows > q.limit ? b64(String(set.columns.ts![n - 1])) : null;
        return {
          contentType: 'application/json; charset=utf-8',
          ...encodedOnce(ctx, set, `json ${q.limit}`, (prior) =>
            barsJsonBody(q.symbol, q.interval, set, n, q.indicators ?? [], next, prior),
          ),
        };
      }
      // CSV, written from the same typed columns.
      const set = await ctx.store.readBarColumns(query, q.indicators ?? [], true);
      const n = Math.min(set.rows, q.limit);
      const { body, headers } = encodedOnce(ctx, set, `csv ${q.limit}`, (prior) =>
        barsCsvBody(q.symbol, set, n, q.indicators ?? [], prior),
      );
      return {
        contentType: 'text/csv; charset=utf-8',
        headers:
          set.rows > q.limit
            ? { ...headers, 'x-next-cursor': b64(String(set.columns.ts![n - 1])) }
            : headers,
        body,
      };
    },
  }),
  route({
    method: 'GET',
    path: '/api/export',
    capability: 'export',
    summary:
      'A layer (or trades) as one Parquet or CSV file, filtered by symbol, interval and time',
    query: ExportQuerySchema,
    response: z.string().describe('the file'),
    formats: ['application/vnd.apache.parquet', 'text/csv'],
    handler: async (ctx, q) => {
      if (q.layer === 'raw' && q.symbol)
        throw new BadParameter('symbol', 'the raw layer is not split by symbol');
      if (
        (q.layer === 'raw' || q.layer === 'trades' || q.layer === 'corporate_actions') &&
        q.interval
      ) {
        throw new BadParameter('interval', `the ${q.layer} layer has no interval`);
      }
      const body = await viaFile(ctx, {
        layer: q.layer,
        format: q.format,
        ...(q.symbol ? { symbol: q.symbol } : {}),
        ...(q.interval ? { interval: q.interval } : {}),
        ...(q.from !== undefined ? { from: q.from } : {}),
        ...(q.to !== undefined ? { to: q.to } : {}),
      });
      const name = [q.layer, q.symbol, q.interval].filter(Boolean).join('-');
      return {
        contentType:
          q.format === 'parquet' ? 'application/vnd.apache.parquet' : 'text/csv; charset=utf-8',
        headers: { 'content-disposition': `attachment; filename="${name}.${q.format}"` },
        body,
      };
    },
  }),
  route({
    method: 'GET',
    path: '/api/forming',
    summary: 'The live edge: bars not final yet (forming, or closed but still correctable)',
    query: FormingQuerySchema,
    response: FormingResponseSchema,
    handler: async (ctx, q) => {
      const bars = ctx.live?.pipeline.forming(q.symbol?.toUpperCase()) ?? [];
      return { body: { bars: q.interval ? bars.filter((b) => b.interval === q.interval) : bars } };
    },
  }),
  route({
    method: 'GET',
    path: '/api/trades',
    summary: 'Trades of one symbol in (ts, tradeId) order; paged by cursor',
    query: TradesQuerySchema,
    response: TradesResponseSchema,
    handler: async (ctx, q) => {
      let after: { ts: number; tradeId: string } | undefined;
      if (q.cursor) {
        const [ts, tradeId] = unb64(q.cursor).split('\u0000');
        if (!Number.isSafeInteger(Number(ts)) || tradeId === undefined) {
          throw new BadParameter('cursor', 'is not a cursor this endpoint returned');
        }
        after = { ts: Number(ts), tradeId };
      }
      const rows = await ctx.store.readTrades({
        symbol: q.symbol,
        ...(q.from !== undefined ? { from: q.from } : {}),
        ...(q.to !== undefined ? { to: q.to } : {}),
        ...(after ? { after } : {}),
        limit: q.limit + 1,
      });
      const more = rows.length > q.limit;
      const trades = more ? rows.slice(0, q.limit) : rows;
      const last = trades[trades.length - 1];
      return {
        body: {
          symbol: q.symbol,
          trades,
          nextCursor: more && last ? b64(`${last.ts}\u0000${last.tradeId}`) : null,
        },
      };
    },
  }),
  route({
    method: 'GET',
    path: '/api/quarantine',
    capability: 'quarantine',
    summary: 'Quarantined records, newest first, with the rule they broke and their raw payload',
    query: QuarantineQuerySchema,
    response: QuarantineResponseSchema,
    handler: async (ctx, q) => ({
      body: {
        rows: (
          await ctx.store.capability('quarantine').readQuarantine({
            ...(await knownRule(ctx, q.rule)),
            limit: q.limit,
            ...(q.rule ? { rule: q.rule } : {}),
            ...(q.symbol ? { symbol: q.symbol } : {}),
            ...(q.interval ? { interval: q.interval } : {}),
            ...(q.stage ? { stage: q.stage } : {}),
            ...(q.from !== undefined ? { from: q.from } : {}),
            ...(q.to !== undefined ? { to: q.to } : {}),
          })
        ).map((r) => ({ ...r, replayable: isReplayable(r) })),
      },
    }),
  }),
  route({
    method: 'GET',
    path: '/api/quarantine/histogram',
    capability: 'analytics',
    summary: 'Rejects per rule per time bucket (for the quality chart)',
    query: RejectHistogramQuerySchema,
    response: RejectHistogramResponseSchema,
    handler: async (ctx, q) => ({
      body: {
        bucket: q.bucket,
        points: await ctx.store.capability('analytics').rejectHistogram(intervalMs(q.bucket), {
          ...(await knownRule(ctx, q.rule)),
          from: q.from,
          to: q.to,
          symbol: q.symbol,
          stage: q.stage,
        }),
      },
    }),
  }),
  route({
    method: 'POST',
    path: '/api/quarantine/:id/replay',
    audit: 'quarantine.replay',
    capability: 'quarantine',
    summary:
      'Re-validates a quarantined trade under the current record rules and stores it if it passes (admin)',
    scope: 'admin',
    query: EmptyQuerySchema,
    params: QuarantineIdParamsSchema,
    response: ReplayResponseSchema,
    handler: async (ctx, _q, { params }) => {
      const row = await ctx.store.capability('quarantine').getQuarantine(params.id);
      if (!row)
        return {
          status: 404,
          body: { error: 'not_found', message: `no quarantined record ${params.id}` },
        };
      const r = await replayQuarantined(ctx.store, ctx.cfg, row);
      return {
        status: r.outcome === 'stored' ? 200 : r.outcome === 'rejected' ? 422 : 409,
        body: r,
      };
    },
  }),
  route({
    method: 'GET',
    path: '/api/stats',
    summary: 'Rows per layer, rejects per rule, and the live path’s ingest rates',
    query: EmptyQuerySchema,
    response: StatsResponseSchema,
    handler: async (ctx) => {
      const has = ctx.store.capabilities();
      const row = has.includes('analytics')
        ? await ctx.store.capability('analytics').layerCounts()
        : {};
      const live = ctx.live?.pipeline;
      const lat = live?.latency();
      return {
        body: {
          rows: Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)])),
          rejectsByRule: has.includes('quarantine')
            ? await ctx.store.capability('quarantine').rejectCounts()
            : {},
          live: live
            ? {
                tradesPerSecond: ctx.live!.rate(),
                tradesIn: live.stats.tradesIn,
                tradesStored: live.stats.store.tradesStored,
                barsClosed: live.stats.barsClosed,
                duplicates: live.stats.duplicates,
                latencyP50Ms: lat && Number.isFinite(lat.p50) ? lat.p50 : null,
                latencyP99Ms: lat && Number.isFinite(lat.p99) ? lat.p99 : null,
                lagMs: live.stats.store.lastStoredReceivedAt
                  ? Math.max(0, Date.now() - live.stats.store.lastStoredReceivedAt)
                  : null,
                backlog: await live.backlog().catch(() => null),
                feed: ctx.live!.feed?.() ?? null,
              }
            : null,
          queryCache: ctx.store.queryCacheStats?.() ?? null,
        },
      };
    },
  }),
];
