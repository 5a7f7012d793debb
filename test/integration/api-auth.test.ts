/**
 * API keys and rate limits on a real server (127.0.0.1, random port): keys
 * created with the real `tickline keys` command, stored hashed; 401, 403 and
 * 429 as the rules say; an admin starts a backfill (against a local replay
 * server) and follows its progress to the end.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../../src/api/server.ts';
import { loadConfig } from '../../src/core/config.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';
import { fixture, type ReplayServer, startReplayServer } from '../helpers/replay-server.ts';

const dir = tempDir();
let readKey: string;
let adminKey: string;
let revokedKey: string;
let yahoo: ReplayServer;
const servers: FastifyInstance[] = [];
let store: Store;

async function serve(opts: { requireKeyForReads: boolean; perMinute?: number }): Promise<string> {
  const cfg = loadConfig({
    cwd: '/',
    env: { TICKLINE_YAHOO_URL: yahoo.url },
  });
  cfg.api.rateLimitPerMinute = opts.perMinute ?? 600;
  cfg.http.baseDelayMs = 10;
  const app = await createServer({
    store,
    cfg,
    metrics: new Metrics(),
    requireKeyForReads: opts.requireKeyForReads,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  servers.push(app);
  const addr = app.server.address();
  return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
}

const call = async (base: string, path: string, key?: string, init: RequestInit = {}) => {
  const res = await fetch(`${base}${path}`, {
    ...init,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(init.body ? { 'content-type': 'application/json' } : {}),
    },
  });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  };
};

beforeAll(async () => {
  const env = { TICKLINE_DATA_DIR: dir };
  const make = async (scope: string) => {
    const r = await runCli(['keys', 'create', '--scope', scope, '--name', `test ${scope}`], env);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim();
  };
  readKey = await make('read');
  adminKey = await make('admin');
  revokedKey = await make('read');
  const id = revokedKey.split('_')[1]!;
  const revoked = await runCli(['keys', 'revoke', id], env);
  expect(revoked.code, revoked.stderr).toBe(0);
  const list = await runCli(['keys', 'list'], env);
  expect(list.stdout).toContain('test admin');
  expect(list.stdout).not.toContain(readKey.split('_').slice(2).join('_')); // the secret may hold '_'
  yahoo = await startReplayServer((url) =>
    url.pathname.endsWith('/AAPL')
      ? [
          {
            delayMs: 150,
            body: fixture('yahoo/yahoo-chart-AAPL-1d-2020-08-31_2020-11-06-splits-dividends.json'),
          },
        ]
      : url.pathname.endsWith('/MSFT')
        ? [
            {
              delayMs: 150,
              body: fixture('yahoo/yahoo-chart-MSFT-1d-2021-02-01_2022-01-28-dividends.json'),
            },
          ]
        : undefined,
  );
  store = await openStoreAt(join(dir, 'tickline.duckdb'));
});
afterAll(async () => {
  for (const s of servers) await s.close();
  await store?.close();
  await yahoo?.close();
});

describe('API keys', () => {
  it('are stored hashed: no stored value contains a key or its secret', async () => {
    const rows = await store.capability('sql').sql('SELECT * FROM api_keys');
    expect(rows.rows.length).toBe(3);
    const stored = JSON.stringify(rows.rows);
    for (const k of [readKey, adminKey, revokedKey]) {
      expect(k).toMatch(/^tk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
      expect(stored).not.toContain(k.split('_').slice(2).join('_'));
    }
  });

  it('off loopback every endpoint needs a valid key (401), and a read key reads', async () => {
    const base = await serve({ requireKeyForReads: true });
    // Liveness stays open for probes (no data); everything else needs a key.
    expect((await call(base, '/api/health')).status).toBe(200);
    for (const path of ['/api/symbols', '/metrics', '/api/openapi.json']) {
      const r = await call(base, path);
      expect(r.status, path).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="tickline"');
      expect(r.body.message).toMatch(/an API key is required/);
    }
    expect((await call(base, '/api/symbols', 'not-a-key')).body.message).toMatch(
      /is not "Bearer tk_…"/,
    );
    expect((await call(base, '/api/symbols', `${readKey.slice(0, -1)}x`)).body.message).toBe(
      'the API key is not valid',
    );
    expect((await call(base, '/api/symbols', revokedKey)).body.message).toBe(
      'the API key was revoked',
    );
    expect((await call(base, '/api/symbols', readKey)).status).toBe(200);
    expect((await call(base, '/api/symbols', adminKey)).status).toBe(200);
  });

  it('on loopback reads are open, but admin endpoints need an admin key (401, then 403)', async () => {
    const base = await serve({ requireKeyForReads: false });
    expect((await call(base, '/api/symbols')).status).toBe(200);
    const body = JSON.stringify({ symbols: ['AAPL'], from: '2020-08-01', to: '2020-11-07' });
    expect((await call(base, '/api/backfill', undefined, { method: 'POST', body })).status).toBe(
      401,
    );
    const forbidden = await call(base, '/api/backfill', readKey, { method: 'POST', body });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toEqual({
      error: 'forbidden',
      message: 'POST /api/backfill needs an admin key; this key can only read',
    });
  });

  it('lets an admin start a backfill and follow its progress to the end', async () => {
    const base = await serve({ requireKeyForReads: false });
    const bad = await call(base, '/api/backfill', adminKey, {
      method: 'POST',
      body: JSON.stringify({ symbols: [], from: '2020-08-01' }),
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({
      parameter: 'symbols',
      message: 'symbols: expected at least one symbol',
    });
    const started = await call(base, '/api/backfill', adminKey, {
      method: 'POST',
      body: JSON.stringify({
        symbols: ['AAPL', 'MSFT', 'NOPE'],
        from: '2020-08-01',
        to: '2022-01-31',
      }),
    });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ state: 'running', progress: { done: 0, total: 3 } });
    const seen: number[] = [];
    let job: Record<string, unknown> = started.body;
    while (job.state === 'running') {
      await new Promise((r) => setTimeout(r, 20));
      job = (await call(base, `/api/jobs/${started.body.id}`)).body;
      seen.push((job.progress as { done: number }).done);
    }
    // One symbol failed: the job (a run of a one-off pipeline) failed, naming it; the others are stored.
    expect(job).toMatchObject({
      state: 'failed',
      progress: { done: 3, total: 3, rows: 49 + 252, errors: 1 },
    });
    expect(job.error).toMatch(/fetch\[NOPE\] failed after 1 attempt/);
    expect((job.errors as { symbol: string }[]).map((e) => e.symbol)).toEqual(['NOPE']);
    const run = await call(base, job.run as string);
    expect(run.body.run).toMatchObject({ pipeline: 'backfill', state: 'failed' });
    expect(new Set(seen).size).toBeGreaterThan(1);
    expect((await call(base, '/api/jobs/7d1c5b8e-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await call(base, '/api/jobs/42')).body).toMatchObject({ parameter: 'id' });
  });

  it('reports a backfill whose every symbol failed as failed, naming them', async () => {
    const base = await serve({ requireKeyForReads: false });
    const started = await call(base, '/api/backfill', adminKey, {
      method: 'POST',
      body: JSON.stringify({ symbols: ['NOPE', 'NADA'], from: '2020-08-01', to: '2020-12-31' }),
    });
    expect(started.status).toBe(202);
    let job: Record<string, unknown> = started.body;
    while (job.state === 'running') {
      await new Promise((r) => setTimeout(r, 20));
      job = (await call(base, `/api/jobs/${started.body.id}`)).body;
    }
    expect(job).toMatchObject({
      state: 'failed',
      progress: { done: 2, total: 2, rows: 0, errors: 2 },
    });
    expect(job.error).toMatch(/NOPE|NADA|every symbol failed/);
  });

  it('replays a quarantined trade that passes the record rules: stored, bars rebuilt, row gone', async () => {
    const base = await serve({ requireKeyForReads: false });
    const T = Date.UTC(2024, 2, 1, 15, 0, 10, 250);
    const reject = (payload: object, rule: string, stage: 'parse' | 'validate' = 'validate') => ({
      stage,
      source: 'finnhub',
      symbol: 'ZZZ',
      rule,
      message: rule,
      payload: JSON.stringify(payload),
      receivedAt: T,
    });
    await store.write({
      raw: [],
      bars: [],
      actions: [],
      instruments: [],
      rejects: [
        reject({ s: 'ZZZ', p: 101.5, t: T, v: 7 }, 'late_trade'),
        reject({ s: 'ZZZ', p: -3, t: T, v: 7 }, 'non_positive_price'),
        reject({ line: 'broken,csv' }, 'malformed_message', 'parse'),
      ],
    });
    const rows = await store.capability('quarantine').readQuarantine({ symbol: 'ZZZ' });
    const id = (rule: string) => rows.find((r) => r.rule === rule)!.id;
    const post = (i: string, key = adminKey) =>
      call(base, `/api/quarantine/${i}/replay`, key, { method: 'POST' });
    expect((await post(id('late_trade'), readKey)).status).toBe(403);
    const ok = await post(id('late_trade'));
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      outcome: 'stored',
      barsRebuilt: 3,
      trade: { symbol: 'ZZZ', price: 101.5, ts: T },
    });
    expect(await store.readTrades({ symbol: 'ZZZ' })).toHaveLength(1);
    const oneSecond = await store.readBars({ symbol: 'ZZZ', interval: '1s' });
    expect(oneSecond).toMatchObject([
      { ts: T - 250, open: 101.5, close: 101.5, volume: 7, tradeCount: 1 },
    ]);
    expect((await post(id('late_trade'))).status).toBe(404);
    const still = await post(id('non_positive_price'));
    expect(still.status).toBe(422);
    expect(still.body).toMatchObject({ outcome: 'rejected', rule: 'non_positive_price' });
    const notTrade = await post(id('malformed_message'));
    expect(notTrade.status).toBe(409);
    expect(notTrade.body.outcome).toBe('not_replayable');
    expect((await post('nope')).body).toMatchObject({ parameter: 'id' });
  });

  it('lets an admin create, list and revoke keys over the API; a read key may not', async () => {
    const base = await serve({ requireKeyForReads: true });
    const body = JSON.stringify({ scope: 'read', name: 'dashboard' });
    expect((await call(base, '/api/keys', readKey, { method: 'POST', body })).status).toBe(403);
    const made = await call(base, '/api/keys', adminKey, { method: 'POST', body });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ scope: 'read', name: 'dashboard', revokedAt: null });
    const key = made.body.key as string;
    expect(made.body).not.toHaveProperty('hash');
    expect((await call(base, '/api/symbols', key)).status).toBe(200);
    const list = await call(base, '/api/keys', adminKey);
    expect(JSON.stringify(list.body)).not.toContain(key.split('_').slice(2).join('_'));
    expect((list.body.keys as { id: string }[]).map((k) => k.id)).toContain(made.body.id);
    const revoked = await call(base, `/api/keys/${made.body.id}/revoke`, adminKey, {
      method: 'POST',
    });
    expect(revoked.status).toBe(200);
    expect((await call(base, '/api/symbols', key)).body.message).toBe('the API key was revoked');
    expect(
      (await call(base, `/api/keys/${made.body.id}/revoke`, adminKey, { method: 'POST' })).status,
    ).toBe(404);
  });

  it('answers a flood with 429 and Retry-After, per key', async () => {
    const base = await serve({ requireKeyForReads: false, perMinute: 5 });
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 7; i++) {
      last = await call(base, '/api/health', readKey);
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(last!.body).toMatchObject({ error: 'rate_limited' });
    // Another key has its own budget.
    expect((await call(base, '/api/health', adminKey)).status).toBe(200);
  });
});
