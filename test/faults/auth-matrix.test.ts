/**
 * Auth on every route × method × key, generated from the route table, so a
 * new route is covered without anyone remembering to add it. Two servers:
 * a loopback one (reads open, admin needs an admin key) and one that needs
 * a key for everything (as when bound to a non-loopback address). Then the
 * limits on failed authentications and the DNS-rebinding check.
 */
import { request } from 'node:http';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newApiKey } from '../../src/api/auth.ts';
import { EXTRA_ROUTES } from '../../src/api/guard.ts';
import { openApiDocument } from '../../src/api/openapi.ts';
import { ROUTES } from '../../src/api/routes.ts';
import { createServer } from '../../src/api/server.ts';
import { loadConfig } from '../../src/core/config.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { tempDir } from '../helpers/db.ts';
import { ResponseChecker } from '../helpers/openapi-check.ts';

let store: Store;
const servers: FastifyInstance[] = [];
const keys: Record<'none' | 'forged' | 'read' | 'admin', string | undefined> = {
  none: undefined,
  forged: 'tk_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  read: undefined,
  admin: undefined,
};

async function serve(requireKeyForReads: boolean, authFailuresPerMinute = 1_000_000) {
  const cfg = loadConfig({ cwd: '/', env: {} });
  cfg.api.rateLimitPerMinute = 1_000_000;
  cfg.api.authFailuresPerMinute = authFailuresPerMinute;
  const app = await createServer({ store, cfg, metrics: new Metrics(), requireKeyForReads });
  await app.listen({ host: '127.0.0.1', port: 0 });
  servers.push(app);
  const addr = app.server.address();
  return typeof addr === 'object' && addr ? addr.port : 0;
}

/** A raw request (fetch cannot send every Host header), answering status and body. */
function call(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers } },
      (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    if (method === 'POST') req.end('{}');
    else req.end();
  });
}

beforeAll(async () => {
  store = await openStoreAt(join(tempDir(), 'auth.duckdb'));
  for (const scope of ['read', 'admin'] as const) {
    const { key, record } = newApiKey(scope, `matrix ${scope}`);
    await store.capability('keys').putApiKey(record);
    keys[scope] = key;
  }
});
afterAll(async () => {
  for (const s of servers) await s.close();
  await store.close();
});

const checker = new ResponseChecker(
  openApiDocument([...ROUTES], '0.0.0') as Record<string, unknown>,
);

// The table under test, with sample values for path parameters.
const table = [...ROUTES, ...EXTRA_ROUTES].map((r) => ({
  method: r.method,
  path: r.path.replace(':id', 'x1'),
  scope: r.scope ?? 'read',
}));
const paths = [...new Set(table.map((r) => r.path))];
/** The strictest scope declared for a path: what any method on it must be held to. */
const strictest = (path: string) =>
  table.some((r) => r.path === path && r.scope === 'admin')
    ? 'admin'
    : table.some((r) => r.path === path && r.scope === 'read')
      ? 'read'
      : 'public';
const registered = (method: string, path: string) =>
  table.some(
    (r) => r.path === path && (r.method === method || (method === 'HEAD' && r.method === 'GET')),
  );

describe('auth on every route × method × key', () => {
  for (const requireKeyForReads of [false, true]) {
    it(`${requireKeyForReads ? 'a server that needs a key for reads' : 'a loopback server'}: no route answers more than its key allows, for GET, HEAD, POST and OPTIONS`, async () => {
      const port = await serve(requireKeyForReads);
      const failures: string[] = [];
      for (const path of paths) {
        const scope = strictest(path);
        for (const method of ['GET', 'HEAD', 'POST', 'OPTIONS']) {
          for (const [who, key] of Object.entries(keys)) {
            const r = await call(port, method, path, {
              ...(key ? { authorization: `Bearer ${key}` } : {}),
              ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
            });
            const allowedKey =
              scope === 'public' ||
              who === 'admin' ||
              (who === 'read' && scope === 'read') ||
              (who === 'none' && scope === 'read' && !requireKeyForReads);
            const ok = r.status >= 200 && r.status < 400;
            const where = `${method} ${path} with ${who} key → ${r.status}`;
            // Every answer is one the OpenAPI document describes: its status and its body.
            const documented = checker.check(
              method,
              path,
              r.status,
              String(r.headers['content-type'] ?? ''),
              r.body,
            );
            if (documented) failures.push(`${where}: ${documented}`);
            // Never an answer the key does not allow, whatever the method.
            if (ok && !allowedKey) failures.push(`${where} (should be refused)`);
            // A key that is not enough is told so: 401 without a valid key, 403 with a read key.
            if (!allowedKey) {
              const want = who === 'read' ? 403 : 401;
              if (r.status !== want && r.status !== 404) failures.push(`${where} (want ${want})`);
              if (r.status === 404 && registered(method, path))
                failures.push(`${where} (want ${want})`);
            }
            // A key that is enough reaches the route (it may still refuse the parameters).
            if (allowedKey && registered(method, path) && (r.status === 401 || r.status === 403)) {
              failures.push(`${where} (should pass)`);
            }
          }
        }
      }
      expect(failures).toEqual([]);
    });
  }
});

describe('failed authentications and DNS rebinding', () => {
  it('limits failed authentications per client address: made-up keys get 429 after the limit, and a valid key from that address too until the minute is over', async () => {
    const port = await serve(true, 20);
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const forged = `tk_${i.toString(16).padStart(12, '0')}_${'B'.repeat(43)}`;
      statuses.push(
        (await call(port, 'GET', '/api/stats', { authorization: `Bearer ${forged}` })).status,
      );
    }
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
    const blocked = await call(port, 'GET', '/api/stats', { authorization: `Bearer ${keys.read}` });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(blocked.body).message).toMatch(/failed authentications/);
  });

  it('serves keyless reads only to a Host and Origin that name this machine', async () => {
    const port = await serve(false);
    const ok = await call(port, 'GET', '/api/health');
    expect(ok.status).toBe(200);
    expect((await call(port, 'GET', '/api/health', { host: `localhost:${port}` })).status).toBe(
      200,
    );
    const evil = await call(port, 'GET', '/api/symbols', { host: 'evil.example' });
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.body).message).toMatch(/Host "evil.example" is not this server/);
    const cross = await call(port, 'GET', '/api/symbols', { origin: 'http://evil.example' });
    expect(cross.status).toBe(403);
    expect(
      (await call(port, 'GET', '/api/symbols', { origin: `http://127.0.0.1:${port}` })).status,
    ).toBe(200);
    // With a key the request is authenticated; the Host does not matter.
    expect(
      (
        await call(port, 'GET', '/api/symbols', {
          host: 'evil.example',
          authorization: `Bearer ${keys.read}`,
        })
      ).status,
    ).toBe(200);
  });
});
