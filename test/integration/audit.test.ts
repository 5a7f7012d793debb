/**
 * The audit log: admin actions over the API and from the CLI, with who
 * (the key id, or cli:<os user>), what, when and how it ended, refused
 * attempts included; readable by admins only (GET /api/audit, `tickline
 * audit`), and never holding a key's secret.
 */
import { userInfo } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/pipelines/runs/run-store.ts';
import { type RunningServer, runCli, startServer } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';

type Entry = AuditEntry;

let server: RunningServer;
let admin: string;
let adminId: string;
const env = { TICKLINE_DATA_DIR: tempDir() };

const post = (path: string, key: string | null, body: unknown = {}) =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key ? { authorization: `Bearer ${key}` } : {}),
    },
    body: JSON.stringify(body),
  });

beforeAll(async () => {
  const created = await runCli(['keys', 'create', '--scope', 'admin', '--name', 'ops'], env);
  admin = created.stdout.trim();
  adminId = /created admin key (\S+)/.exec(created.stderr)![1]!;
  server = await startServer(['--port', '0', '--symbols', 'AAPL', '--rate', '5'], env);
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

describe('the audit log', () => {
  it('records admin actions over the API and the CLI, refused ones included, for admins only', async () => {
    const t0 = Date.now();
    const made = await post('/api/keys', admin, { scope: 'read', name: 'grafana' });
    expect(made.status).toBe(201);
    const { id: readId, key: readKey } = (await made.json()) as { id: string; key: string };
    // A read key may not create keys; no key at all is not even asked.
    expect((await post('/api/keys', readKey, { scope: 'admin' })).status).toBe(403);
    expect((await post('/api/keys', null, { scope: 'admin' })).status).toBe(401);
    const missing = '00000000-0000-4000-8000-000000000000';
    expect((await post(`/api/runs/${missing}/retry`, admin)).status).toBe(404);
    expect((await post(`/api/keys/${readId}/revoke`, admin)).status).toBe(200);
    // From the CLI, through the running server.
    const cancel = await runCli(['runs', 'cancel', missing], env);
    expect(cancel.code).not.toBe(0);

    const read = await fetch(`${server.url}/api/audit`, {
      headers: { authorization: `Bearer ${readKey}` },
    });
    expect(read.status).toBe(401); // revoked by now
    const res = await fetch(`${server.url}/api/audit?limit=50`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(readKey);
    expect(text).not.toContain(admin);
    const entries = (JSON.parse(text) as { entries: Entry[] }).entries.reverse();
    const cli = `cli:${userInfo().username}`;
    expect(
      entries.map(({ actor, action, target, outcome }) => ({ actor, action, target, outcome })),
    ).toEqual([
      { actor: cli, action: 'keys.create', target: adminId, outcome: 'ok' },
      { actor: `key:${adminId}`, action: 'keys.create', target: readId, outcome: 'ok' },
      { actor: `key:${readId}`, action: 'keys.create', target: null, outcome: 'failed' },
      { actor: 'anonymous', action: 'keys.create', target: null, outcome: 'failed' },
      { actor: `key:${adminId}`, action: 'runs.retry', target: missing, outcome: 'failed' },
      { actor: `key:${adminId}`, action: 'keys.revoke', target: readId, outcome: 'ok' },
      { actor: cli, action: 'runs.cancel', target: missing, outcome: 'failed' },
    ]);
    expect(entries[2]!.detail).toMatch(/^HTTP 403: .*needs an admin key/);
    expect(entries[4]!.detail).toMatch(/^HTTP 404/);
    for (const e of entries.slice(1)) expect(e.at).toBeGreaterThanOrEqual(t0 - 1);

    const listed = await runCli(['audit', '--action', 'keys.revoke', '--format', 'json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as Entry[]).map((e) => e.target)).toEqual([readId]);
  });
});
