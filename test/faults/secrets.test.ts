/**
 * Secrets never leave the process: a canary value used as the Finnhub
 * token and as the store's password is looked for everywhere tickline
 * speaks (its output, its error messages, /api/stats and every other
 * answer, /metrics, the raw layer) and must be in none of them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type RunningServer, runCli, startCli, startServer } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';
import { until } from '../helpers/kafka.ts';
import { freshDatabase, pgUrlFor } from '../helpers/pg.ts';
import { FIXTURES } from '../helpers/replay-server.ts';
import { type FinnhubServer, startFinnhubServer } from '../helpers/ws-server.ts';

const CANARY = 'CANARY-s3cr3t-9d81f0';
const session = readFileSync(join(FIXTURES, 'finnhub', 'ws-trades-AAPL-2020-04-14.jsonl'), 'utf8')
  .trim()
  .split('\n');

let finnhub: FinnhubServer;
let server: RunningServer;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let env: Record<string, string>;

const withPassword = (url: string) => {
  const u = new URL(url);
  u.password = CANARY;
  return u.toString();
};

beforeAll(async () => {
  finnhub = await startFinnhubServer({ session });
  db = await freshDatabase('tlsecret');
  const dir = tempDir();
  const config = join(dir, 'tickline.config.yaml');
  writeFileSync(
    config,
    stringify({ sources: { finnhub: { wsUrl: finnhub.url, marketHours: 'always' } } }),
  );
  env = { TICKLINE_DATA_DIR: dir, TICKLINE_CONFIG: config, FINNHUB_TOKEN: CANARY };
  server = await startServer(
    ['--store', withPassword(db.url), '--port', '0', '--symbols', 'AAPL'],
    env,
  );
  await finnhub.allSent;
}, 180_000);

afterAll(async () => {
  await server?.stop();
  await finnhub?.close();
  await db?.drop();
});

describe('a canary secret', () => {
  it('reaches the provider, and no answer, metric, layer or line of output', async () => {
    // The token did go where it belongs.
    expect(finnhub.tokens).toContain(CANARY);
    await until(
      async () => {
        const stats = (await (await fetch(`${server.url}/api/stats`)).json()) as {
          live: { tradesIn?: number } | null;
        };
        return (stats.live?.tradesIn ?? 0) > 0;
      },
      120_000,
      'the trades to arrive',
    );
    for (const path of [
      '/api/stats',
      '/api/health',
      '/api/symbols',
      '/api/openapi.json',
      '/metrics',
      '/api/bars?symbol=AAPL&interval=1s',
      '/api/trades?symbol=AAPL',
      '/api/quarantine',
      '/api/pipelines',
      '/api/alerts',
      '/api/export?layer=raw&format=csv',
      '/api/nope',
    ]) {
      const r = await fetch(`${server.url}${path}`);
      const text = await r.text();
      expect(text, path).not.toContain(CANARY);
    }
    const stopped = await server.stop();
    expect(stopped.stdout + stopped.stderr).not.toContain(CANARY);
    expect(stopped.stdout).toContain('postgres://postgres:***@');
  });

  it('is in no error message: a refused token, an unreachable store', async () => {
    const refusing = await startFinnhubServer({ session: [], refuseToken: CANARY });
    try {
      const dir = tempDir();
      const config = join(dir, 'tickline.config.yaml');
      writeFileSync(config, stringify({ sources: { finnhub: { wsUrl: refusing.url } } }));
      const run = startCli(
        ['stream', '--source', 'finnhub', '--symbols', 'AAPL', '--duration', '30'],
        {
          TICKLINE_DATA_DIR: dir,
          TICKLINE_CONFIG: config,
          FINNHUB_TOKEN: CANARY,
        },
      );
      const r = await run.done;
      expect(refusing.refused).toBeGreaterThan(0);
      expect(r.stderr).toContain('check FINNHUB_TOKEN');
      expect(r.stdout + r.stderr).not.toContain(CANARY);
    } finally {
      await refusing.close();
    }
    for (const url of [
      withPassword(pgUrlFor('no_such_database_here')),
      `postgres://postgres:${CANARY}@127.0.0.1:1/tickline`,
      `cassandra://tickline:${CANARY}@127.0.0.1:1/tickline`,
    ]) {
      const r = await runCli(['status', '--store', url], { TICKLINE_DATA_DIR: tempDir() });
      expect(r.code, url).not.toBe(0);
      expect(r.stdout + r.stderr, url).not.toContain(CANARY);
    }
  });
});
