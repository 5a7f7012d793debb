/**
 * While `tickline up` holds the data folder, every other command goes
 * through it (over the owner-only control socket in the data folder) and
 * prints what it prints when it opens the store itself.
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, runCli, startServer } from '../helpers/cli.ts';

let dir: string;
let dataDir: string;
let server: RunningServer | null = null;
const env = (): Record<string, string> => ({ TICKLINE_DATA_DIR: dataDir });

/** Commands whose output depends only on what this test stored (not on the live simulator). */
const STABLE: string[][] = [
  ['keys', 'list'],
  [
    'query',
    "SELECT symbol, count(*) AS n, min(ts) AS first FROM bars WHERE interval = '1d' GROUP BY 1 ORDER BY 1",
  ],
  [
    'query',
    '--format',
    'json',
    "SELECT symbol, close FROM bars WHERE interval = '1d' AND symbol = 'CSVX' ORDER BY ts",
  ],
  ['quarantine', '--rule', 'high_low_inconsistent'],
  ['query', 'SELECT nope FROM bars'],
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tickline-ctl-'));
  dataDir = join(dir, 'data');
  server = await startServer(
    ['--port', '0', '--symbols', 'AAPL', '--rate', '5', '--fault-rate', '0'],
    env(),
  );
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the CLI while the server runs', () => {
  const through: Record<string, { code: number; stdout: string; stderr: string }> = {};

  it('leaves an owner-only socket and its address in the data folder', () => {
    const run = join(dataDir, 'run');
    expect(statSync(run).mode & 0o777).toBe(0o700);
    expect(statSync(join(run, 'control.sock')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(run, 'server.json'))).toBe(true);
  });

  it('creates an admin key the running server accepts at once, and a revoke takes effect at once', async () => {
    const created = await runCli(['keys', 'create', '--scope', 'admin', '--name', 'ops'], env());
    expect(created.code, created.stderr).toBe(0);
    const key = created.stdout.trim();
    const asAdmin = { authorization: `Bearer ${key}` };
    const ok = await fetch(`${server!.url}/api/keys`, { headers: asAdmin });
    expect(ok.status).toBe(200);
    const id = /created admin key (\S+)/.exec(created.stderr)![1]!;
    const revoked = await runCli(['keys', 'revoke', id], env());
    expect(revoked.code).toBe(0);
    const refused = await fetch(`${server!.url}/api/keys`, { headers: asAdmin });
    expect(refused.status).toBe(401);
  });

  it('imports, queries, lists quarantine and exports through the server', async () => {
    const csv = join(dir, 'csvx.csv');
    writeFileSync(
      csv,
      'Date,Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10.5,12,10,11.5,200\n2024-01-04,11,10,12,11,300\n',
    );
    const imported = await runCli(['import', csv, '--symbol', 'CSVX'], env());
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/bars valid: 2 .* rejects: 1/); // high < low is quarantined
    for (const args of STABLE) through[args.join(' ')] = await runCli(args, env());
    expect(through[STABLE[2]!.join(' ')]!.stdout).toContain('"close":11.5');
    const out = join(dir, 'lake');
    const exported = await runCli(['export', '--layer', 'staging', '--out', out], env());
    expect(exported.code, exported.stderr).toBe(0);
    expect(existsSync(join(out, 'staging', 'interval=1d', 'symbol=CSVX'))).toBe(true);
  });

  it('refuses a second server on the same data folder, naming the first', async () => {
    const second = await runCli(['up', '--port', '0', '--duration', '1'], env());
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(
      /a tickline server \(pid \d+, http:\/\/127\.0\.0\.1:\d+\) already holds/,
    );
  });

  it('prints the same when the command opens the store itself', async () => {
    const stopped = await server!.stop();
    server = null;
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(existsSync(join(dataDir, 'run', 'control.sock'))).toBe(false);
    for (const args of STABLE) {
      const direct = await runCli(args, env());
      const via = through[args.join(' ')]!;
      expect(direct.stdout, args.join(' ')).toBe(via.stdout);
      expect(direct.stderr, args.join(' ')).toBe(via.stderr);
      expect(direct.code, args.join(' ')).toBe(via.code);
    }
  });

  it('opens the store itself when the server died and left its socket behind', async () => {
    const crashed = await startServer(['--port', '0', '--symbols', 'AAPL', '--rate', '5'], env());
    crashed.child.kill('SIGKILL');
    await crashed.done;
    expect(existsSync(join(dataDir, 'run', 'control.sock'))).toBe(true);
    const listed = await runCli(['keys', 'list'], env());
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('ops');
  });
});
