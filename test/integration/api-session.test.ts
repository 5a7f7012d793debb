/**
 * Dashboard sign-in on a server that needs a key for reads (a non-loopback
 * bind): the dashboard's files and /api/health are open, data is not; a key
 * buys an HttpOnly, SameSite=Strict session cookie; changes made with the
 * cookie need the session's CSRF token; sign-out and revocation end it.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { newApiKey } from '../../src/api/auth.ts';
import { createServer } from '../../src/api/server.ts';
import { Sessions } from '../../src/api/sessions.ts';
import { StreamHub } from '../../src/api/stream-hub.ts';
import { loadConfig } from '../../src/core/config.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { tempDir } from '../helpers/db.ts';

let store: Store;
let app: FastifyInstance;
let base: string;
const keys: Record<'read' | 'admin', { key: string; id: string }> = {
  read: { key: '', id: '' },
  admin: { key: '', id: '' },
};

beforeAll(async () => {
  store = await openStoreAt(join(tempDir(), 'session.duckdb'));
  for (const scope of ['read', 'admin'] as const) {
    const { key, record } = newApiKey(scope, `session ${scope}`);
    await store.capability('keys').putApiKey(record);
    keys[scope] = { key, id: record.id };
  }
  const cfg = loadConfig({ cwd: '/', env: {} });
  cfg.api.rateLimitPerMinute = 1_000_000;
  cfg.api.authFailuresPerMinute = 5;
  app = await createServer({
    store,
    cfg,
    metrics: new Metrics(),
    requireKeyForReads: true,
    host: '0.0.0.0',
    hub: new StreamHub({ store }),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(async () => {
  await app?.close();
  await store?.close();
});

async function signIn(key: string): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await fetch(`${base}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const body = (await res.json()) as { csrf: string };
  return { cookie: setCookie.split(';')[0]!, csrf: body.csrf, setCookie };
}

describe('a server that needs a key: sign-in with a session cookie', () => {
  it('serves the dashboard and /api/health to anyone, and no data without a key', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const health = await fetch(`${base}/api/health`);
    expect(health.status).toBe(200);
    const h = (await health.json()) as { status: string; log: { backlog: unknown } };
    expect(h.status).toBe('ok');
    const bars = await fetch(`${base}/api/bars?symbol=AAPL&interval=1d`);
    expect(bars.status).toBe(401);
    expect(((await bars.json()) as { message: string }).message).toMatch(/sign in/);
    const who = (await (await fetch(`${base}/api/session`)).json()) as Record<string, unknown>;
    expect(who).toEqual({
      keyRequired: true,
      signedIn: false,
      scope: null,
      keyId: null,
      csrf: null,
    });
  });

  it('refuses a wrong key by name, and limits failed sign-ins per address', async () => {
    const bad = await fetch(`${base}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'not-a-key' }),
    });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: 'unauthorized', parameter: 'key' });
    expect(bad.headers.get('set-cookie')).toBeNull();
  });

  it('sets an HttpOnly SameSite=Strict cookie that reads data, and tells the session', async () => {
    const s = await signIn(keys.read.key);
    expect(s.setCookie).toMatch(/^tickline_session=[A-Za-z0-9_-]{43};/);
    expect(s.setCookie).toMatch(/HttpOnly/);
    expect(s.setCookie).toMatch(/SameSite=Strict/);
    expect(s.setCookie).toMatch(/Path=\//);
    const bars = await fetch(`${base}/api/bars?symbol=AAPL&interval=1d`, {
      headers: { cookie: s.cookie },
    });
    expect(bars.status).toBe(200);
    const who = await (
      await fetch(`${base}/api/session`, { headers: { cookie: s.cookie } })
    ).json();
    expect(who).toEqual({
      keyRequired: true,
      signedIn: true,
      scope: 'read',
      keyId: keys.read.id,
      csrf: s.csrf,
    });
    // A read session cannot do an admin action, even with its CSRF token.
    const backfill = await fetch(`${base}/api/backfill`, {
      method: 'POST',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(backfill.status).toBe(403);
    expect(((await backfill.json()) as { message: string }).message).toMatch(/read key/);
  });

  it('needs the CSRF token for changes made with the cookie', async () => {
    const s = await signIn(keys.admin.key);
    const post = (headers: Record<string, string>) =>
      fetch(`${base}/api/backfill`, {
        method: 'POST',
        headers: { cookie: s.cookie, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ symbols: [] }),
      });
    const none = await post({});
    expect(none.status).toBe(403);
    expect(((await none.json()) as { message: string }).message).toMatch(/x-csrf-token/);
    expect((await post({ 'x-csrf-token': 'x'.repeat(32) })).status).toBe(403);
    // With the token the request reaches the route (which then judges the body).
    const ok = await post({ 'x-csrf-token': s.csrf });
    expect(ok.status).toBe(400);
    expect(await ok.json()).toMatchObject({ error: 'bad_parameter' });
  });

  it('opens the WebSocket with the cookie, but not from a page of another site', async () => {
    const s = await signIn(keys.read.key);
    const wsUrl = `${base.replace('http', 'ws')}/api/stream`;
    const open = (headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(wsUrl, { headers });
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => resolve(-1));
      });
    expect(await open({})).toBe(401);
    expect(await open({ cookie: s.cookie })).toBe(101);
    expect(await open({ cookie: s.cookie, origin: 'http://evil.example' })).toBe(403);
  });

  it('signs out: the cookie is cleared and the old one reads nothing', async () => {
    const s = await signIn(keys.read.key);
    const out = await fetch(`${base}/api/session/logout`, {
      method: 'POST',
      headers: { cookie: s.cookie, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/^tickline_session=;.*Max-Age=0/);
    const after = await fetch(`${base}/api/bars?symbol=AAPL&interval=1d`, {
      headers: { cookie: s.cookie },
    });
    expect(after.status).toBe(401);
    expect(((await after.json()) as { message: string }).message).toMatch(/session ended/);
  });

  it('ends the sessions of a revoked key', async () => {
    const { key, record } = newApiKey('read', 'to revoke');
    await store.capability('keys').putApiKey(record);
    const s = await signIn(key);
    const admin = { authorization: `Bearer ${keys.admin.key}` };
    const revoke = await fetch(`${base}/api/keys/${record.id}/revoke`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(revoke.status).toBe(200);
    const after = await fetch(`${base}/api/stats`, { headers: { cookie: s.cookie } });
    expect(after.status).toBe(401);
  });
});

describe('Sessions', () => {
  it('end after the idle time and the absolute lifetime (injected clock)', () => {
    let now = 1_000_000;
    const sessions = new Sessions({ idleMs: 60_000, maxMs: 300_000, now: () => now });
    const a = sessions.create('k1');
    now += 59_000;
    expect(sessions.get(a.id)?.keyId).toBe('k1');
    now += 61_000; // idle for 61 s
    expect(sessions.get(a.id)).toBeNull();
    const b = sessions.create('k2');
    for (let i = 0; i < 5; i++) {
      now += 50_000; // never idle for long …
      expect(sessions.get(b.id)).not.toBeNull();
    }
    now += 55_000; // … but more than 300 s after sign-in it ends
    expect(sessions.get(b.id)).toBeNull();
    const c = sessions.create('k3');
    sessions.endForKey('k3');
    expect(sessions.get(c.id)).toBeNull();
  });
});
