/**
 * Slow and never-reading HTTP clients must not stop the API for others:
 * 200 connections that send half a request and go quiet (slowloris), and
 * 20 that pipeline requests for the OpenAPI document and never read the
 * answers. Meanwhile every ordinary request is answered.
 */
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../../src/api/server.ts';
import { loadConfig } from '../../src/core/config.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { tempDir } from '../helpers/db.ts';

let app: FastifyInstance;
let store: Store;
let port: number;
const sockets: Socket[] = [];

beforeAll(async () => {
  store = await openStoreAt(join(tempDir(), 'slow.duckdb'));
  const cfg = loadConfig({ cwd: '/', env: {} });
  cfg.api.rateLimitPerMinute = 1_000_000;
  app = await createServer({ store, cfg, metrics: new Metrics(), requireKeyForReads: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await app.close();
  await store.close();
});

const open = (): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.on('error', reject);
    sockets.push(s);
  });

describe('slow and never-reading HTTP clients', () => {
  it('keeps answering ordinary requests while 200 clients send half a request and 20 never read', async () => {
    for (let i = 0; i < 200; i++) {
      const s = await open();
      s.write(`GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: `);
    }
    const big = `GET /api/openapi.json HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`.repeat(50);
    for (let i = 0; i < 20; i++) {
      const s = await open();
      s.pause();
      s.write(big);
    }
    for (let i = 0; i < 20; i++) {
      const health = await fetch(`http://127.0.0.1:${port}/api/health`);
      expect(health.status).toBe(200);
      const symbols = await fetch(`http://127.0.0.1:${port}/api/symbols`);
      expect(symbols.status).toBe(200);
      await symbols.arrayBuffer();
      await health.arrayBuffer();
    }
  });
});
