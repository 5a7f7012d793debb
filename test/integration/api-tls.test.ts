/**
 * HTTPS for the API, the dashboard, /metrics and the WebSocket (api.tls):
 * with a CA and a server certificate made by the test, a client that trusts
 * the CA reads bars over HTTPS and streams over WSS; one that does not is
 * refused by its TLS check; plain HTTP gets no answer; the session cookie is
 * Secure. A missing certificate file stops `up` at once, naming the setting.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { stringify } from 'yaml';
import { type RunningServer, runCli, startServer } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';
import { issueServerCert, makeCa } from '../helpers/tls.ts';

const dir = tempDir('tickline-api-tls-');
let ca: Buffer;
let server: RunningServer;
let env: Record<string, string>;

function get(
  url: string,
  opts: { ca?: Buffer; method?: string; body?: string } = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: opts.method ?? 'GET',
        ...(opts.ca ? { ca: opts.ca } : {}),
        headers: opts.body ? { 'content-type': 'application/json' } : {},
      },
      (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

beforeAll(async () => {
  const caFile = makeCa(dir, 'tickline-api-ca');
  ca = readFileSync(caFile);
  const { key, crt } = issueServerCert(dir, caFile);
  const config = join(dir, 'tickline.config.yaml');
  writeFileSync(config, stringify({ api: { tls: { cert: crt, key } } }));
  env = { TICKLINE_DATA_DIR: join(dir, 'data'), TICKLINE_CONFIG: config };
  server = await startServer(['--port', '0', '--symbols', 'AAPL', '--rate', '20'], env);
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

describe('api.tls', () => {
  it('serves the API, the dashboard and /metrics over HTTPS to a client that trusts the CA', async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const bars = await get(`${server.url}/api/bars?symbol=AAPL&interval=1d&limit=2`, { ca });
    expect(bars.status).toBe(200);
    expect(JSON.parse(bars.body).bars).toHaveLength(2);
    expect((await get(`${server.url}/`, { ca })).body).toContain('<html');
    expect((await get(`${server.url}/metrics`, { ca })).body).toContain(
      'tickline_http_requests_total',
    );
  });

  it('is refused by a client that does not trust the certificate, and plain HTTP gets no answer', async () => {
    await expect(get(`${server.url}/api/health`)).rejects.toThrow(
      /self[- ]signed certificate|unable to verify|unable to get local issuer/,
    );
    await expect(fetch(`${server.url.replace('https', 'http')}/api/health`)).rejects.toThrow();
  });

  it('streams over WSS', async () => {
    const ws = new WebSocket(`${server.url.replace('https', 'wss')}/api/stream`, { ca });
    const first = await new Promise<string>((resolve, reject) => {
      ws.once('open', () =>
        ws.send(JSON.stringify({ type: 'subscribe', symbols: ['AAPL'], trades: true })),
      );
      ws.once('message', (d) => resolve(String(d)));
      ws.once('error', reject);
    });
    ws.close();
    expect(first.length).toBeGreaterThan(0);
  });

  it('sets the session cookie Secure', async () => {
    const key = (await runCli(['keys', 'create', '--scope', 'read'], env)).stdout.trim();
    const r = await get(`${server.url}/api/session`, {
      ca,
      method: 'POST',
      body: JSON.stringify({ key }),
    });
    expect(r.status).toBe(200);
    expect(String(r.headers['set-cookie'])).toMatch(/tickline_session=.*; Secure/);
  });

  it('stops at once, naming the setting, when a file is missing', async () => {
    const config = join(dir, 'broken.config.yaml');
    writeFileSync(
      config,
      stringify({ api: { tls: { cert: join(dir, 'nope.crt'), key: join(dir, 'server.key') } } }),
    );
    const r = await runCli(['up', '--port', '0'], { ...env, TICKLINE_CONFIG: config });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /api\.tls\.cert: expected a readable PEM file \(got ".*nope\.crt \(ENOENT\)"\)/,
    );
    expect(r.stdout).not.toContain('loaded the bundled history');
  });
});
