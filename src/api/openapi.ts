/** The OpenAPI 3.1 document, generated from the route list and its zod schemas. */
import { z } from 'zod';
import { ErrorSchema } from './api-schemas.ts';
import type { RouteDef } from './routes.ts';

type JsonSchema = Record<string, unknown>;

const schemaOf = (s: z.ZodType, io: 'input' | 'output'): JsonSchema =>
  z.toJSONSchema(s, { io, unrepresentable: 'any' }) as JsonSchema;

/** What a parameter means, for parameters whose schema does not say (shared names). */
const PARAM_HELP: Record<string, string> = {
  id: 'the id, as a list endpoint returned it',
  name: 'the pipeline name (GET /api/pipelines lists them)',
  interval: 'bar interval: 1s, 1m, 5m, 15m, 30m, 1h, 1d, 1wk or 1mo',
  format: 'the answer: json (default), csv, parquet or arrow',
  limit: 'at most this many rows',
  rule: 'a quarantine rule, e.g. late_trade (an unknown rule is refused with 400)',
  stage: 'where the record was refused: parse, validate, decode, process or store',
  bucket: 'the width of a histogram bar',
  pipeline: 'only runs of this pipeline',
  state: 'only runs in this state',
  task: 'only this task’s lines',
  symbol: 'instrument symbol, e.g. AAPL or BINANCE:BTCUSDT',
};

/** Examples shown beside a parameter. */
const PARAM_EXAMPLES: Record<string, string> = {
  symbol: 'AAPL',
  interval: '1d',
  from: '2024-01-02',
  to: '2024-03-28',
  indicators: 'sma_20,rsi_14',
};

const errorBody = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/** Who may call a route, as OpenAPI security requirements (empty: anyone). */
function securityOf(scope: RouteDef['scope']): Record<string, string[]>[] {
  return scope === 'public' ? [] : [{ bearerKey: [] }, { session: [] }];
}

export function openApiDocument(routes: readonly RouteDef[], version: string): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const q = schemaOf(r.query, 'input');
    const props = (q.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((q.required as string[] | undefined) ?? []);
    const param = (name: string, where: 'query' | 'path', schema: JsonSchema) => {
      const description =
        typeof schema.description === 'string' ? schema.description : PARAM_HELP[name];
      return {
        name,
        in: where,
        required: where === 'path' || required.has(name),
        ...(description ? { description } : {}),
        ...(PARAM_EXAMPLES[name] ? { example: PARAM_EXAMPLES[name] } : {}),
        schema,
      };
    };
    const parameters: Record<string, unknown>[] = Object.entries(props).map(([name, schema]) =>
      param(name, 'query', schema),
    );
    const pathParams = r.params ? schemaOf(r.params, 'input') : null;
    for (const [name, schema] of Object.entries(
      (pathParams?.properties ?? {}) as Record<string, JsonSchema>,
    )) {
      parameters.push(param(name, 'path', schema));
    }
    const content: Record<string, unknown> = {
      'application/json': { schema: schemaOf(r.response, 'output') },
    };
    for (const f of r.formats ?? []) {
      content[f] = {
        schema: { type: 'string', ...(f === 'text/csv' ? {} : { format: 'binary' }) },
      };
    }
    const scope = r.scope ?? 'read';
    const path = r.path.replace(/:(\w+)/g, '{$1}');
    paths[path] = {
      ...(paths[path] ?? {}),
      [r.method.toLowerCase()]: {
        summary: r.summary,
        operationId: `${r.method.toLowerCase()}${path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(\w)/g, (_m, c: string) => c.toUpperCase())}`,
        tags: [tagOf(path)],
        description:
          scope === 'admin'
            ? 'Needs an admin key (or a dashboard session signed in with one).'
            : scope === 'public'
              ? 'Open to anyone: no key needed.'
              : 'Needs a key or a dashboard session, except on a loopback bind (127.0.0.1), where reads are open.',
        security: securityOf(scope),
        parameters,
        ...(r.body
          ? {
              requestBody: {
                required: true,
                content: {
                  'application/json': {
                    schema: schemaOf(r.body, 'input'),
                    ...(r.bodyExample !== undefined ? { example: r.bodyExample } : {}),
                  },
                },
              },
            }
          : {}),
        responses: {
          [String(r.status ?? 200)]: { description: 'OK', content },
          400: errorBody('A parameter is wrong; the body names it and what is expected'),
          ...(scope === 'public'
            ? {}
            : {
                401: errorBody('No key, an unknown or revoked key, or an ended session'),
                403: errorBody(
                  scope === 'admin'
                    ? 'The key can only read; or a session change without its x-csrf-token'
                    : 'A keyless read from a Host or Origin that is not this server',
                ),
              }),
          ...(r.params ? { 404: errorBody('No such id') } : {}),
          ...(r.conflict ? { 409: errorBody(r.conflict) } : {}),
          429: errorBody('Too many requests (per key or address), or too many failed sign-ins'),
          ...(r.capability
            ? { 501: errorBody(`This store has no ${r.capability} capability`) }
            : {}),
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'tickline API',
      version,
      license: { name: 'MIT', identifier: 'MIT' },
      description: [
        'Market data stored by tickline: bars with indicators, trades, the quarantine, runs and the live path.',
        '',
        '**Times** are UTC: a date (`2024-01-02`), an ISO 8601 time or epoch **milliseconds**, the same on the CLI. Answers give epoch milliseconds.',
        '',
        '**Errors** answer `{"error", "message"}` (and `parameter` for a bad one) with a 4xx or 5xx status.',
        '',
        '**Keys**: `tickline keys create --scope read|admin`. Send `Authorization: Bearer <key>`; the dashboard signs in with a key instead (`POST /api/session`) and gets an HttpOnly session cookie. On a loopback bind reads need no key.',
        '',
        'Live bars: WebSocket `/api/stream` (`{"type":"subscribe","symbols":["AAPL"],"intervals":["1s"]}`).',
      ].join('\n'),
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: { Error: schemaOf(ErrorSchema, 'output') },
      securitySchemes: {
        bearerKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'A tickline API key: tk_<id>_<secret> (tickline keys create)',
        },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'tickline_session',
          description:
            'The dashboard’s session after POST /api/session; changes also need the x-csrf-token header',
        },
      },
    },
  };
}

/** The group a path is listed under in the reference. */
function tagOf(path: string): string {
  const seg = path.split('/')[2] ?? '';
  if (['bars', 'forming', 'symbols', 'trades', 'export', 'gaps'].includes(seg)) return 'Data';
  if (['quarantine'].includes(seg)) return 'Quality';
  if (['backfill', 'jobs', 'pipelines', 'runs', 'alerts'].includes(seg)) return 'Pipelines';
  if (['keys', 'session'].includes(seg)) return 'Access';
  return 'Service';
}

/**
 * The reference page: Redoc's standalone bundle (built into web/dist/vendor
 * with the dashboard) reading /api/openapi.json. Nothing comes from a CDN.
 */
export function docsPage(haveRedoc: boolean): string {
  if (!haveRedoc) {
    return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tickline API</title></head>
<body><h1>tickline API</h1><p>The reference page needs the dashboard built (<code>npm run build:web</code>; npm start does). The document itself: <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3.1).</p></body></html>`;
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tickline API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{margin:0}</style></head>
<body><div id="reference"></div>
<script src="/vendor/redoc.standalone.js"></script>
<script>Redoc.init('/api/openapi.json', {
  expandResponses: '200', jsonSampleExpandLevel: 3, hideHostname: true, sortTagsAlphabetically: true,
  theme: { typography: { fontFamily: 'system-ui, sans-serif', headings: { fontFamily: 'system-ui, sans-serif' } } }
}, document.getElementById('reference'))</script>
</body></html>`;
}
