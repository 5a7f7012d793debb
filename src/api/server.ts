/**
 * The HTTP server (fastify): the REST API under /api, its OpenAPI document
 * and docs page, and /metrics. Every query is validated with the routes'
 * zod schemas; a bad parameter answers 400 naming it and what is expected.
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import type { z } from 'zod';
import type { Config } from '../core/config.ts';
import { packagePath } from '../core/modules.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { PipelineEvent } from '../pipelines/orchestrator.ts';
import { PipelineService } from '../pipelines/pipeline-service.ts';
import { DuckDBRunStore } from '../pipelines/runs/duckdb-run-store.ts';
import { CapabilityError, type Store } from '../store/store.ts';
import { registerAuditLog } from './audit-log.ts';
import { KeyChecker } from './auth.ts';
import type { ApiContext, LiveHandle } from './context.ts';
import { AuthFailures, EXTRA_ROUTES, hostnameOf, rebindingProblem, scopeTable } from './guard.ts';
import { docsPage, openApiDocument } from './openapi.ts';
import { answerAsPlainRequest, isWebSocketUpgrade } from './plain-upgrade.ts';
import { ApiError, type RequestFacts } from './route-def.ts';
import { BadParameter, ROUTES } from './routes.ts';
import {
  CSRF_HEADER,
  csrfMatches,
  SAFE_METHODS,
  type Session,
  Sessions,
  sessionIdOf,
} from './sessions.ts';
import type { StreamHub } from './stream-hub.ts';
import { readTls } from './tls.ts';

export interface ServerOptions {
  store: Store;
  cfg: Config;
  metrics: Metrics;
  /**
   * Read endpoints need a key too. True whenever the server binds to a
   * non-loopback address: only a loopback bind serves reads without a key.
   */
  requireKeyForReads: boolean;
  /** The address the server binds to (default 127.0.0.1): a Host naming it is this server. */
  host?: string;
  /** The running live path, once there is one. */
  live?: () => LiveHandle | null;
  /** Serves WebSocket /api/stream when given. */
  hub?: StreamHub;
  /**
   * Pipelines, runs and alerts. Without one the server keeps its own, with
   * the run history in memory (tests; `tickline up` passes the real one).
   */
  pipelines?: PipelineService;
  /** The key checker (shared with whatever else revokes keys in this process). */
  keys?: KeyChecker;
  /** The built dashboard (default web/dist of this checkout). */
  webRoot?: string;
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
  const common = {
    logger: false,
    // A request must arrive whole within 30 s (half-sent requests cannot hold sockets for
    // ever), and a connection idle for 2 minutes (a client that stopped reading an answer)
    // is closed. WebSockets are taken over before either applies.
    requestTimeout: 30_000,
    connectionTimeout: 120_000,
  };
  const tls = await readTls(o.cfg.api.tls);
  // An https.Server is an http.Server with TLS: the same routes, upgrades and hooks.
  const app = (tls
    ? Fastify({ ...common, https: tls })
    : Fastify(common)) as unknown as FastifyInstance;
  const ownPipelines = o.pipelines
    ? null
    : await PipelineService.open({
        cfg: o.cfg,
        store: o.store,
        runs: await DuckDBRunStore.open(':memory:'),
        metrics: o.metrics,
        ...(o.hub ? { onEvent: (e: PipelineEvent) => o.hub?.publishPipeline(e) } : {}),
      });
  const pipelines = o.pipelines ?? ownPipelines!;
  const keys = o.keys ?? new KeyChecker(o.store);
  const failures = new AuthFailures(o.cfg.api.authFailuresPerMinute);
  const sessions = new Sessions();
  const ctx: ApiContext = {
    sessions,
    failures,
    requireKeyForReads: o.requireKeyForReads,
    pipelines,
    keys,
    store: o.store,
    cfg: o.cfg,
    metrics: o.metrics,
    get live() {
      return o.live?.() ?? null;
    },
    startedAt: Date.now(),
  };
  const doc = openApiDocument(ROUTES, o.version ?? '0.1.0');
  const scopeOf = scopeTable([...ROUTES, ...EXTRA_ROUTES]);
  const boundHost = o.host ?? '127.0.0.1';

  app.addHook('onClose', async () => {
    if (ownPipelines) {
      await ownPipelines.close(30_000);
      await ownPipelines.runStore.close();
    }
    await o.hub?.close();
  });

  const hub = o.hub;
  if (hub) {
    app.server.on('upgrade', (req, socket, head) => {
      if (!isWebSocketUpgrade(req)) return answerAsPlainRequest(app.server, req, socket, head);
      const url = new URL(req.url ?? '/', 'http://localhost');
      const refuse = (status: 401 | 403 | 404 | 429, message: string): void => {
        const [reason, error] = {
          401: ['Unauthorized', 'unauthorized'],
          403: ['Forbidden', 'forbidden'],
          404: ['Not Found', 'not_found'],
          429: ['Too Many Requests', 'rate_limited'],
        }[status];
        socket.end(
          `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${JSON.stringify({ error, message })}`,
        );
      };
      if (url.pathname !== '/api/stream') return refuse(404, `no WebSocket at ${url.pathname}`);
      const key = url.searchParams.get('key');
      const header = req.headers.authorization ?? (key ? `Bearer ${key}` : undefined);
      const session = header ? null : sessions.get(sessionIdOf(req.headers.cookie));
      if (session) {
        // A cookie rides along with any page's WebSocket: only this server's pages may use it.
        const origin = req.headers.origin;
        const host = req.headers.host;
        if (origin && host && hostnameOf(origin, true) !== hostnameOf(host, false))
          return refuse(403, `Origin ${JSON.stringify(origin)} is another site`);
        void keys.checkId(session.keyId).then((auth) => {
          if (!auth.ok) {
            sessions.end(session.id);
            refuse(401, 'your session ended: sign in again');
          } else hub.upgrade(req, socket, head);
        });
        return;
      }
      if (!o.requireKeyForReads && !header) {
        const problem = rebindingProblem(req.headers.host, req.headers.origin, boundHost);
        if (problem) return refuse(403, problem);
        return hub.upgrade(req, socket, head);
      }
      const address = req.socket.remoteAddress ?? '';
      const wait = failures.blockedFor(address);
      if (wait > 0) return refuse(429, `too many failed authentications; retry in ${wait} s`);
      void keys.check(header).then((auth) => {
        if (!auth.ok) {
          failures.fail(address);
          refuse(401, 'an API key is required: Authorization: Bearer <key>, or ?key=<key>');
        } else hub.upgrade(req, socket, head);
      });
    });
  }

  await app.register(rateLimit, {
    max: o.cfg.api.rateLimitPerMinute,
    timeWindow: 60_000,
    keyGenerator: (req) => {
      // Per key only for a key that passed: made-up keys share their address's bucket.
      const id =
        keys.verifiedId(req.headers.authorization) ??
        (req.headers.authorization
          ? null
          : (sessions.get(sessionIdOf(req.headers.cookie))?.keyId ?? null));
      return id ? `key:${id}` : `ip:${req.ip}`;
    },
    errorResponseBuilder: (_req, c) => ({
      statusCode: 429,
      error: 'rate_limited',
      message: `more than ${c.max} requests per minute; retry in ${Math.ceil(c.ttl / 1000)} s`,
    }),
  });

  // Who may call what (src/api/guard.ts): by route whatever the method, deny by default;
  // failed authentications limited per address; a keyless server checks Host and Origin.
  // Who may call what (src/api/guard.ts): by route whatever the method, deny by default;
  // failed authentications limited per address; a keyless server checks Host and Origin.
  // A browser signed in on the dashboard sends its session cookie instead of a key.
  app.decorateRequest('caller', 'public');
  app.addHook('onRequest', async (req, reply) => {
    const url = req.routeOptions.url;
    const need = url ? scopeOf(req.method, url) : 'read';
    const header = req.headers.authorization;
    const sid = header ? undefined : sessionIdOf(req.headers.cookie);
    const session: Session | null = sessions.get(sid);
    if (need === 'public' || (need === 'read' && !o.requireKeyForReads && !header && !session)) {
      if (need === 'public') {
        // Anyone may call it; the caller's scope still decides how much it is told.
        if (header || session) {
          const auth = session ? await keys.checkId(session.keyId) : await keys.check(header);
          if (auth.ok) (req as unknown as { caller: string }).caller = auth.scope;
        } else if (
          !o.requireKeyForReads &&
          !rebindingProblem(req.headers.host, req.headers.origin, boundHost)
        ) {
          (req as unknown as { caller: string }).caller = 'read';
        }
        return;
      }
      // A keyless read: Host and Origin must name this machine.
      const problem = rebindingProblem(req.headers.host, req.headers.origin, boundHost);
      if (problem) return reply.code(403).send({ error: 'forbidden', message: problem });
      (req as unknown as { caller: string }).caller = 'read';
      return;
    }
    const wait = failures.blockedFor(req.ip);
    if (wait > 0) {
      return reply
        .code(429)
        .header('retry-after', String(wait))
        .send({
          error: 'rate_limited',
          message: `more than ${o.cfg.api.authFailuresPerMinute} failed authentications a minute from ${req.ip}; retry in ${wait} s`,
        });
    }
    const auth = session ? await keys.checkId(session.keyId) : await keys.check(header);
    if (!auth.ok) {
      if (session) sessions.end(session.id);
      else if (auth.reason !== 'missing') failures.fail(req.ip);
      const why = session
        ? `your session ended: its key was ${auth.reason === 'revoked' ? 'revoked' : 'removed'}; sign in again`
        : {
            missing: sid
              ? 'your session ended (signed out, expired, or the server restarted): sign in again, or send Authorization: Bearer <key>'
              : 'an API key is required: send Authorization: Bearer <key> (tickline keys create), or sign in on the dashboard',
            malformed: 'the Authorization header is not "Bearer tk_…" with a tickline key',
            unknown: 'the API key is not valid',
            revoked: 'the API key was revoked',
          }[auth.reason];
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="tickline"')
        .send({ error: 'unauthorized', message: why });
    }
    // Who it is (the audit log names refused callers too).
    (req as unknown as { keyId: string }).keyId = auth.id;
    if (
      session &&
      !SAFE_METHODS.has(req.method) &&
      !csrfMatches(session, req.headers[CSRF_HEADER])
    ) {
      return reply.code(403).send({
        error: 'forbidden',
        message: `${req.method} ${url ?? req.url.split('?')[0]} with a session cookie needs its ${CSRF_HEADER} header (GET /api/session gives the token)`,
      });
    }
    if (need === 'admin' && auth.scope !== 'admin') {
      return reply.code(403).send({
        error: 'forbidden',
        message: `${req.method} ${url ?? req.url.split('?')[0]} needs an admin key; ${session ? 'this session signed in with a read key' : 'this key can only read'}`,
      });
    }
    (req as unknown as { caller: string }).caller = auth.scope;
  });

  // Server-Timing: the time spent inside the server (routing, handler, serialization).
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('server-timing', `app;dur=${reply.elapsedTime.toFixed(2)}`);
    return payload;
  });

  registerAuditLog(app, ROUTES, ctx);

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
        const params = r.params ? r.params.safeParse(req.params ?? {}) : null;
        const body = r.body ? r.body.safeParse(req.body ?? {}) : null;
        const failed = !parsed.success
          ? parsed
          : params && !params.success
            ? params
            : body && !body.success
              ? body
              : null;
        if (failed && !failed.success) {
          const issue = failed.error.issues[0]!;
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
          const res = await r.handler(ctx, parsed.data, {
            params: params?.data,
            body: body?.data,
            http: {
              caller: (req as unknown as { caller: RequestFacts['caller'] }).caller,
              cookie: req.headers.cookie,
              secure: req.protocol === 'https',
              ip: req.ip,
            },
          });
          reply.code(res.status ?? 200);
          if (res.contentType) reply.type(res.contentType);
          if (res.headers) reply.headers(res.headers);
          return reply.send(res.body);
        } catch (err) {
          if (err instanceof ApiError) {
            return reply.code(err.status).send({
              error: err.kind,
              ...(err.parameter ? { parameter: err.parameter } : {}),
              message: err.message,
            });
          }
          if (err instanceof CapabilityError) {
            return reply.code(501).send({ error: 'not_available', message: err.message });
          }
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

  // The dashboard: web/dist, built by `npm run build:web` (npm start and npm test build it).
  const web = o.webRoot ?? fileURLToPath(packagePath('web/dist'));
  if (existsSync(join(web, 'index.html'))) {
    await app.register(fastifyStatic, {
      root: web,
      prefix: '/',
      index: 'index.html',
      wildcard: false,
    });
  } else {
    app.get('/', async (_req, reply) =>
      reply
        .code(503)
        .type('text/html; charset=utf-8')
        .send(
          '<p>The dashboard is not built: run <code>npm run build:web</code> (npm start does).</p>',
        ),
    );
  }

  app.get('/api/openapi.json', async () => doc);
  app.get('/api/docs', async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .send(docsPage(existsSync(join(web, 'vendor', 'redoc.standalone.js')))),
  );
  app.get('/metrics', async (_req, reply) =>
    reply.type(o.metrics.registry.contentType).send(await o.metrics.registry.metrics()),
  );
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );
  app.setErrorHandler((err: Error & { statusCode?: number; error?: unknown }, _req, reply) => {
    const status =
      err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    const kind = status === 429 ? 'rate_limited' : status === 500 ? 'internal' : 'bad_request';
    reply.code(status).send({ error: kind, message: err.message });
  });
  return app;
}
