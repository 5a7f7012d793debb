/**
 * Clients nobody here wrote. Java's `java.net.http.HttpClient`, with its
 * defaults, asks every plain-HTTP request to upgrade to HTTP/2 (`Upgrade:
 * h2c`); the API ignores an Upgrade it does not take and answers over
 * HTTP/1.1, bodies included, while WebSocket upgrades still reach the stream.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ROOT, type RunningServer, startServer } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';
import { run } from '../helpers/processes.ts';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer(['--port', '0', '--symbols', 'AAPL', '--rate', '5'], {
    TICKLINE_DATA_DIR: tempDir(),
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

/** One raw HTTP/1.1 exchange on a new connection; the whole answer as text. */
function exchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(request));
    let out = '';
    s.on('data', (d) => {
      out += d;
    });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

const h2c =
  'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQBAAAAAAIAAAAA\r\n';

describe('Upgrade: h2c on plain HTTP routes', () => {
  it('a Java HttpClient with its defaults reads /api/bars, and a POST body arrives', async () => {
    const r = await run('java', [
      join(ROOT, 'test', 'fixtures', 'java', 'BarsClient.java'),
      server.url,
    ]);
    expect(r.code, r.out).toBe(0);
    const get = /^GET (\d+) (\S+) (.*)$/m.exec(r.out);
    expect(get?.[1], r.out).toBe('200');
    expect(get?.[2]).toBe('HTTP_1_1');
    const body = JSON.parse(get![3]!) as { symbol: string; bars: unknown[] };
    expect(body.symbol).toBe('AAPL');
    expect(body.bars).toHaveLength(3);
    // The sign-in body was read: a wrong key is refused as such, not as a missing body.
    const post = /^POST (\d+) \S+ (.*)$/m.exec(r.out);
    expect(post?.[1], r.out).toBe('401');
    expect(post?.[2]).not.toMatch(/body|required/i);
  }, 180_000);

  it('answers the same bytes with and without the Upgrade header', async () => {
    const port = Number(new URL(server.url).port);
    const path = '/api/bars?symbol=AAPL&interval=1d&limit=5';
    const plain = await exchange(
      port,
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    const upgraded = await exchange(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${h2c}\r\n`);
    const bodyOf = (t: string) => t.slice(t.indexOf('\r\n\r\n') + 4);
    expect(upgraded).toMatch(/^HTTP\/1\.1 200 /);
    expect(upgraded).not.toMatch(/101 Switching/);
    expect(bodyOf(upgraded)).toBe(bodyOf(plain));
  });

  it('reads a body that came with the headers or after them', async () => {
    const port = Number(new URL(server.url).port);
    const body = JSON.stringify({ key: 'tl_wrong' });
    const answer = await exchange(
      port,
      `POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\n${h2c}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    const chunked = await exchange(
      port,
      `POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\n${h2c}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    );
    expect(chunked).toMatch(/^HTTP\/1\.1 400 /);
    expect(chunked).toContain('needs a Content-Length');
  });

  it('still upgrades a WebSocket at /api/stream, and refuses one elsewhere', async () => {
    const wsUrl = `${server.url.replace('http', 'ws')}/api/stream`;
    const ws = new WebSocket(wsUrl);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.close();
    const other = new WebSocket(`${server.url.replace('http', 'ws')}/api/bars`);
    const status = await new Promise<number>((resolve) => {
      other.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      other.once('error', () => resolve(-1));
    });
    expect(status).toBe(404);
  });
});
