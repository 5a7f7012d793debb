/// <reference lib="dom" />
/**
 * `tickline up --host 0.0.0.0`: every read needs a key, so the dashboard
 * signs in. In Chromium: the sign-in page, a wrong key refused by name, a
 * read key that shows the chart, and sign-out back to the sign-in page.
 * /api/health stays open (probes); /api/bars without a key answers 401.
 */
import { mkdirSync } from 'node:fs';
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
let url: string;
let readKey: string;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const env = { TICKLINE_DATA_DIR: tempDir() };
  readKey = (await runCli(['keys', 'create', '--scope', 'read'], env)).stdout.trim();
  server = await startServer(['--host', '0.0.0.0', '--port', '0', '--rate', '20'], env);
  // Bound to every address; the browser reaches it on loopback.
  url = server.url.replace('0.0.0.0', '127.0.0.1');
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('the dashboard on a non-loopback bind', () => {
  it('answers /api/health without a key and /api/bars with 401', async () => {
    const health = await fetch(`${url}/api/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe('ok');
    const bars = await fetch(`${url}/api/bars?symbol=AAPL&interval=1d`);
    expect(bars.status).toBe(401);
  });

  it('shows the sign-in page, refuses a wrong key, signs in, shows the chart and signs out', async () => {
    await page.goto(url);
    await page.waitForSelector('#signinKey');
    expect(await page.textContent('#signin')).toMatch(/needs an API key/);
    await page.screenshot({ path: join(ARTIFACTS, 'signin.png') });
    await page.fill('#signinKey', 'tk_000000000000_nope');
    await page.click('#signin button[type="submit"]');
    await page.waitForSelector('#signinMessage:not([hidden])');
    expect(await page.textContent('#signinMessage')).toMatch(/not a tickline API key|not valid/);

    await signIn(page, readKey);
    // The chart draws the bundled AAPL history through the session cookie.
    await page.goto(`${url}/#/chart`);
    await page.waitForFunction(() => {
      const t = (window as unknown as { __tickline?: { bars: () => unknown[] } }).__tickline;
      return (t?.bars().length ?? 0) > 100;
    });
    expect(await page.textContent('#who')).toMatch(/signed in · read key/);
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'tickline_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    // Script on the page cannot read the cookie.
    expect(await page.evaluate(() => document.cookie)).not.toMatch(/tickline_session/);
    await page.screenshot({ path: join(ARTIFACTS, 'signed-in.png') });

    await page.click('#signOut');
    await page.waitForSelector('#signinKey');
    const after = await page.evaluate(async () => (await fetch('/api/bars?symbol=AAPL')).status);
    expect(after).toBe(401);
  });
});
