/**
 * One validation per parameter, shared by the CLI and the API: the same
 * range is refused by both with the same words.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newApiKey } from '../../src/api/auth.ts';
import { createServer } from '../../src/api/server.ts';
import { loadConfig } from '../../src/core/config.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';

let app: FastifyInstance;
let store: Store;
let base: string;
let admin: string;
const dir = tempDir();

beforeAll(async () => {
  store = await openStoreAt(join(dir, 'v.duckdb'));
  const k = newApiKey('admin', 'v');
  await store.capability('keys').putApiKey(k.record);
  admin = k.key;
  app = await createServer({
    store,
    cfg: loadConfig({ cwd: '/', env: {} }),
    metrics: new Metrics(),
    requireKeyForReads: false,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(async () => {
  await app.close();
  await store.close();
});

const get = async (path: string) => {
  const r = await fetch(`${base}${path}`);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};

describe('the same range checks in the CLI and the API', () => {
  it('refuses from after to on every read that takes a range', async () => {
    for (const path of [
      '/api/bars?symbol=AAPL&from=2020-02-01&to=2020-01-01',
      '/api/trades?symbol=AAPL&from=2020-02-01&to=2020-01-01',
      '/api/quarantine?from=2020-02-01&to=2020-01-01',
      '/api/quarantine/histogram?from=2020-02-01&to=2020-01-01',
      '/api/export?layer=staging&from=2020-02-01&to=2020-01-01',
    ]) {
      const r = await get(path);
      expect(r.status, path).toBe(400);
      expect(r.body.parameter, path).toBe('from');
      expect(r.body.message, path).toBe(
        'from: expected a time before to (from 2020-02-01T00:00:00.000Z is not before to 2020-01-01T00:00:00.000Z)',
      );
    }
  });

  it('caps a backfill’s intraday span and refuses a start before 1800, as the CLI does', async () => {
    const post = async (body: unknown) => {
      const r = await fetch(`${base}/api/backfill`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    const wide = await post({
      symbols: ['AAPL'],
      interval: '1m',
      from: '1900-01-01',
      to: '2000-01-01',
    });
    expect(wide.status).toBe(400);
    expect(wide.body.parameter).toBe('to');
    const message = String(wide.body.message);
    expect(message).toMatch(/^to: expected a range of at most 1000000 1m bars \(694 days\)/);
    const cli = await runCli(
      [
        'backfill',
        '--symbols',
        'AAPL',
        '--interval',
        '1m',
        '--from',
        '1900-01-01',
        '--to',
        '1999-12-31',
      ],
      { TICKLINE_DATA_DIR: join(dir, 'cli') },
    );
    expect(cli.code).toBe(2);
    expect(cli.stderr.trim()).toBe(`tickline: --${message}`);

    const early = await post({ symbols: ['AAPL'], from: '1700-01-01', to: '1800-02-01' });
    expect(early.status).toBe(400);
    expect(early.body.message).toBe('from: expected a time from 1800-01-01 on (got 1700-01-01)');
  });
});
