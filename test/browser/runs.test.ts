/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Must-show 7: the Runs page in Debian's Chromium, served by `tickline up`,
 * with real runs that failed and succeeded: pipelines, the grid, the runs,
 * a run's timeline and logs, and an admin's run-now and retry. Screenshots
 * go to test-artifacts/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, signIn } from '../helpers/browser.ts';
import { ROOT, type RunningServer, runCli, startServer } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';

const ARTIFACTS = join(ROOT, 'test-artifacts');
let browser: Browser;
let page: Page;
let server: RunningServer;
let env: Record<string, string>;
let adminKey: string;

interface RunsProbe {
  runs: () => { id: string; pipeline: string; state: string }[];
  selected: () => {
    run: { id: string; state: string };
    attempts: { task: string; state: string; attempt: number }[];
  } | null;
  grid: () => { columns: string[]; rows: string[]; cells: string[][] };
  logs: () => { message: string }[];
  updates: () => number;
}
declare global {
  interface Window {
    __ticklineRuns?: RunsProbe;
  }
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const dir = tempDir('tickline-runs-page-');
  const config = join(dir, 'tickline.config.yaml');
  writeFileSync(
    config,
    `pipelines:
  nightly-load:
    description: fetch, check and load the day's bars (no-op stand-ins)
    schedule: "30 17 * * 1-5"
    timezone: America/New_York
    calendar: XNYS
    tasks:
      extract: { kind: noop, partitions: 4, durationMs: 300 }
      validate: { kind: noop, needs: [extract], durationMs: 200 }
      load: { kind: noop, needs: [validate], durationMs: 200 }
  flaky-export:
    tasks:
      export: { kind: command, command: ["${process.execPath}", "-e", "console.log('exporting'); console.error('disk full'); process.exit(3)"], retries: 1, retryDelayMs: 50 }
      notify: { kind: noop, needs: [export] }
`,
  );
  env = { TICKLINE_CONFIG: config, TICKLINE_DATA_DIR: join(dir, 'data') };
  server = await startServer(['--port', '0', '--symbols', 'AAPL', '--rate', '5'], env);
  adminKey = (await runCli(['keys', 'create', '--scope', 'admin'], env)).stdout.trim();
  for (const p of ['nightly-load', 'flaky-export', 'nightly-load']) {
    const r = await runCli(['pipelines', 'run', p, '--wait'], env);
    expect(r.code === 0 || p === 'flaky-export', r.stderr).toBe(true);
  }
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  // Admin actions (run, retry, cancel) go through a session signed in with an admin key.
  await page.goto(`${server.url}/#/runs`);
  await signIn(page, adminKey);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('the Runs page', () => {
  it('shows pipelines, the grid and the runs, failed and succeeded', async () => {
    await page.goto(`${server.url}/#/runs`);
    await page.waitForFunction(
      () =>
        (window.__ticklineRuns?.runs().length ?? 0) >= 3 &&
        (window.__ticklineRuns?.grid().columns.length ?? 0) >= 1,
      null,
      {
        timeout: 30_000,
      },
    );
    const states = await page.evaluate(() =>
      window
        .__ticklineRuns!.runs()
        .map((r) => `${r.pipeline}:${r.state}`)
        .sort(),
    );
    expect(states).toEqual([
      'flaky-export:failed',
      'nightly-load:succeeded',
      'nightly-load:succeeded',
    ]);
    expect(await page.textContent('table.pipelines')).toContain('30 17 * * 1-5');
    const grid = await page.evaluate(() => window.__ticklineRuns!.grid());
    expect(grid.rows).toEqual([
      'extract[0]',
      'extract[1]',
      'extract[2]',
      'extract[3]',
      'load',
      'validate',
    ]);
    expect(grid.cells.flat().every((s) => s === 'succeeded')).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'runs-page.png'), fullPage: true });
  });

  it('draws a failed run’s attempts on a timeline, with its logs', async () => {
    const failed = await page.evaluate(
      () => window.__ticklineRuns!.runs().find((r) => r.state === 'failed')!.id,
    );
    await page.click(`table.runs tr[data-run="${failed}"]`);
    await page.waitForFunction((id) => window.__ticklineRuns?.selected()?.run.id === id, failed);
    const attempts = await page.evaluate(() =>
      window.__ticklineRuns!.selected()!.attempts.map((a) => `${a.task}#${a.attempt}:${a.state}`),
    );
    expect(attempts).toEqual(['export#1:failed', 'export#2:failed', 'notify#0:skipped']);
    expect(await page.locator('svg.gantt rect').count()).toBe(2); // the skipped task never ran
    const logs = await page.evaluate(() => window.__ticklineRuns!.logs().map((l) => l.message));
    expect(logs).toContain('disk full');
    expect(logs.some((m) => /failed: .* exited 3/.test(m))).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'runs-failed-run.png'), fullPage: true });
  });

  it('lets an admin retry the failed run and start a pipeline; changes arrive live', async () => {
    const before = await page.evaluate(() => window.__ticklineRuns!.updates());
    await page.click('#retryRun');
    await page.waitForFunction(
      () =>
        (window.__ticklineRuns?.selected()?.attempts.filter((a) => a.task === 'export').length ??
          0) >= 3,
      null,
      { timeout: 30_000 },
    );
    // The retry's own answer may redraw the run before its WebSocket message is read (a loaded
    // machine); the change must still arrive live, so wait for it rather than assume its order.
    await page.waitForFunction((b) => (window.__ticklineRuns?.updates() ?? 0) > b, before, {
      timeout: 30_000,
    });
    await page.click('button[data-trigger="nightly-load"]');
    await page.waitForFunction(
      () =>
        window
          .__ticklineRuns!.runs()
          .filter((r) => r.pipeline === 'nightly-load' && r.state === 'succeeded').length === 3,
      null,
      { timeout: 30_000 },
    );
    await page.screenshot({ path: join(ARTIFACTS, 'runs-after-retry.png'), fullPage: true });
  });
});
