/**
 * The HTTP server (fastify): the REST API under /api, its OpenAPI document
 * and docs page, and /metrics. Every query is validated with the routes'
 * zod schemas; a bad parameter answers 400 naming it and what is expected.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { z } from 'zod';
import type { Config } from '../core/config.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Store } from '../store/store.ts';
import type { ApiContext, LiveHandle } from './context.ts';
import { docsPage, openApiDocument } from './openapi.ts';
import { BadParameter, ROUTES } from './routes.ts';

export interface ServerOptions {
  store: Store;
  cfg: Config;
  metrics: Metrics;
  /** The running live path, once there is one. */
  live?: () => LiveHandle | null;
  version?: string;
}

/** What a zod issue says was expected, in words. */
function expected(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_value') return `one of ${issue.values.map(String).join(', ')}`;
  if (issue.code === 'invalid_type') {
    return issue.input === undefined
      ? `a value (${issue.expected}; it is required)`
      : issue.expected;
  }
  return issue.message.replace(/^Invalid input: expected /, '');
}

export async function createServer(o: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  const ctx: ApiContext = {
    store: o.store,
    cfg: o.cfg,
    metrics: o.metrics,
    get live() {
      return o.live?.() ?? null;
    },
    startedAt: Date.now(),
  };
  const doc = openApiDocument(ROUTES, o.version ?? '0.1.0');

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    o.metrics.httpRequests.inc({ route, method: req.method, status: String(reply.statusCode) });
    o.metrics.httpDuration.observe({ route, method: req.method }, reply.elapsedTime / 1000);
  });

  for (const r of ROUTES) {
    app.route({
      method: r.method,
      url: r.path,
      handler: async (req, reply) => {
        const parsed = r.query.safeParse(req.query ?? {});
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          const parameter =
            issue.code === 'unrecognized_keys'
              ? issue.keys[0]!
              : String(issue.path[0] ?? '(query)');
          const message =
            issue.code === 'unrecognized_keys'
              ? `${parameter}: no such parameter for ${r.path}`
              : `${parameter}: expected ${expected(issue)}`;
          return reply.code(400).send({ error: 'bad_parameter', parameter, message });
        }
        try {
          const res = await r.handler(ctx, parsed.data);
          reply.code(res.status ?? 200);
          if (res.contentType) reply.type(res.contentType);
          return reply.send(res.body);
        } catch (err) {
          if (err instanceof BadParameter) {
            return reply.code(400).send({
              error: 'bad_parameter',
              parameter: err.parameter,
              message: `${err.parameter}: ${err.message}`,
            });
          }
          throw err;
        }
      },
    });
  }

  app.get('/api/openapi.json', async () => doc);
  app.get('/api/docs', async (_req, reply) =>
    reply.type('text/html; charset=utf-8').send(docsPage(doc)),
  );
  app.get('/metrics', async (_req, reply) =>
    reply.type(o.metrics.registry.contentType).send(await o.metrics.registry.metrics()),
  );
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status =
      err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    reply
      .code(status)
      .send({ error: status === 500 ? 'internal' : 'bad_request', message: err.message });
  });
  return app;
}
