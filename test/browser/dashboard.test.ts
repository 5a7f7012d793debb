/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core),
 * served by `tickline up` with the simulator as the live feed, on the
 * embedded store and on the PostgreSQL store. Screenshots go to
 * test-artifacts/ (git-ignored; the PostgreSQL run's end in -postgres).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, signIn } from '../helpers/browser.ts';
import { ROOT, type RunningServer, runCli, startServer } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';
import { freshDatabase } from '../helpers/pg.ts';
import { fixture, type ReplayServer, startReplayServer } from '../helpers/replay-server.ts';

const ARTIFACTS = join(ROOT, 'test-artifacts');
let browser: Browser;
let page: Page;
let url: string;
let server: RunningServer;
let adminKey: string;
let yahoo: ReplayServer;

interface ChartProbe {
  symbol: string;
  interval: string;
  liveUpdates: number;
  bars: () => {
    symbol: string;
    interval: string;
    ts: number;
    indicators?: Record<string, number | null>;
  }[];
}
declare global {
  interface Window {
    __tickline?: ChartProbe;
    __ticklineData?: {
      series: () => { symbol: string; interval: string; kind: string; rows: number }[];
      job: () => { state: string; progress: { done: number; total: number; rows: number } } | null;
      sparksLoaded: () => boolean;
    };
    __ticklineQuality?: {
      rows: () => { rule: string; payload: string; replayable: boolean }[];
      rules: () => string[];
      bucket: () => string;
      totals: () => Record<string, number>;
      times: () => number[];
      filter: () => Record<string, string>;
    };
  }
}

/** The whole dashboard suite against one store (`storeArgs`: the flags that pick it). */
function dashboardSuite(store: string, storeArgs: () => Promise<string[]>): void {
  const suffix = store === 'duckdb' ? '' : `-${store}`;
  describe(`dashboard on the ${store} store`, () => {
    beforeAll(async () => {
      if (!existsSync(join(ROOT, 'web', 'dist', 'index.html'))) {
        throw new Error('the dashboard is not built: npm run build:web');
      }
      mkdirSync(ARTIFACTS, { recursive: true });
      const dataDir = tempDir();
      const created = await runCli(['keys', 'create', '--scope', 'admin', ...(await storeArgs())], {
        TICKLINE_DATA_DIR: dataDir,
      });
      adminKey = created.stdout.trim();
      yahoo = await startReplayServer((u) =>
        u.pathname.endsWith('/AAPL')
          ? [
              {
                delayMs: 300,
                body: fixture(
                  'yahoo/yahoo-chart-AAPL-1d-2020-08-31_2020-11-06-splits-dividends.json',
                ),
              },
            ]
          : undefined,
      );
      // Resolves once it prints its address; rejects, with its output, if it exits first.
      server = await startServer(
        ['--port', '0', '--rate', '200', '--fault-rate', '0.02', ...(await storeArgs())],
        { TICKLINE_DATA_DIR: dataDir, TICKLINE_YAHOO_URL: yahoo.url },
      );
      url = server.url;
      browser = await launchChromium();
      page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      // The backfill form and replay are admin actions: a session signed in with an admin key.
      await page.goto(url);
      await signIn(page, adminKey);
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      server?.child.kill('SIGTERM');
      await server?.done;
      await yahoo?.close();
    });

    /**
     * Pixels of the candle and volume colours (up #2f9e44 / down #e03131, volume #b2f2bb / #ffc9c9)
     * over all of the chart's canvases: a chart with nothing drawn has none.
     */
    async function candlePixels(): Promise<number> {
      return page.evaluate(() => {
        const wanted = new Set([0x2f9e44, 0xe03131, 0xb2f2bb, 0xffc9c9]);
        let n = 0;
        for (const c of document.querySelectorAll<HTMLCanvasElement>('#chart canvas')) {
          const ctx = c.getContext('2d');
          if (!ctx || c.width === 0 || c.height === 0) continue;
          const data = ctx.getImageData(0, 0, c.width, c.height).data;
          for (let i = 0; i < data.length; i += 4) {
            if (wanted.has((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!)) n++;
          }
        }
        return n;
      });
    }

    describe('pages', () => {
      it('draws the candles of a picked symbol, with indicators', async () => {
        await page.goto(`${url}/#/chart`);
        await page.waitForFunction(() => (window.__tickline?.bars().length ?? 0) > 0, null, {
          timeout: 30_000,
        });
        await page.fill('#symbol', 'SPX');
        await page.press('#symbol', 'Enter');
        await page.locator('#symbol').dispatchEvent('change');
        await page.waitForFunction(
          () =>
            window.__tickline?.bars().at(-1)?.symbol === 'SPX' &&
            window.__tickline.bars().length >= 1_000,
          null,
          { timeout: 30_000 },
        );
        const last = await page.evaluate(() => window.__tickline!.bars().at(-1)!);
        expect(last.symbol).toBe('SPX');
        expect(last.indicators?.sma_50).toBeTypeOf('number');
        await expect.poll(candlePixels, { timeout: 10_000 }).toBeGreaterThan(1_000);
        await page.screenshot({ path: join(ARTIFACTS, `chart-spx-1d${suffix}.png`) });
      });

      it('loads older history when the chart is scrolled back', async () => {
        // SPX 1d is loaded (the newest 1,000 of ~5,000 daily bars).
        const before = await page.evaluate(() => {
          const bars = window.__tickline!.bars();
          return { n: bars.length, first: bars[0]!.ts };
        });
        // The first page shows whole, oldest bar included, so one more page may already be in.
        expect(before.n).toBeGreaterThanOrEqual(1_000);
        const box = (await page.locator('#chart').boundingBox())!;
        for (let i = 0; i < 6; i++) {
          // Drag the price pane to the right: older bars come into view.
          await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.3);
          await page.mouse.down();
          await page.mouse.move(box.x + box.width * 0.9, box.y + box.height * 0.3, { steps: 8 });
          await page.mouse.up();
          const n = await page.evaluate(() => window.__tickline!.bars().length);
          if (n > before.n) break;
        }
        await page.waitForFunction((n) => (window.__tickline?.bars().length ?? 0) > n, before.n, {
          timeout: 15_000,
        });
        const after = await page.evaluate(() => {
          const bars = window.__tickline!.bars();
          const ts = bars.map((b) => b.ts);
          return {
            n: bars.length,
            first: ts[0]!,
            ascending: ts.every((x, i) => i === 0 || x > ts[i - 1]!),
          };
        });
        expect(after.n).toBeGreaterThanOrEqual(2_000);
        expect(after.first).toBeLessThan(before.first);
        expect(after.ascending).toBe(true);
        await page.screenshot({ path: join(ARTIFACTS, `chart-spx-1d-scrolled-back${suffix}.png`) });
      });

      it('says so when nothing is stored for the pick, and names the problem when the API refuses it', async () => {
        await page.click('.intervals button[data-interval="5m"]');
        await page.waitForFunction(
          () =>
            document
              .querySelector('#message')
              ?.textContent?.startsWith('No 5m bars stored for SPX'),
          null,
          { timeout: 15_000 },
        );
        expect(await page.locator('#message').isVisible()).toBe(true);
        await page.screenshot({ path: join(ARTIFACTS, `chart-empty${suffix}.png`) });
        await page.fill('#symbol', 'NOT A SYMBOL');
        await page.locator('#symbol').dispatchEvent('change');
        await page.waitForFunction(
          () => document.querySelector('#message.error')?.textContent?.startsWith('Could not load'),
          null,
          { timeout: 15_000 },
        );
        const text = await page.locator('#message').textContent();
        expect(text).toMatch(/symbol/);
        await page.screenshot({ path: join(ARTIFACTS, `chart-error${suffix}.png`) });
      });

      it('switches the interval and shows the forming bar moving live', async () => {
        await page.fill('#symbol', 'AAPL');
        await page.locator('#symbol').dispatchEvent('change');
        await page.click('.intervals button[data-interval="1s"]');
        await page.waitForFunction(
          () => {
            const last = window.__tickline?.bars().at(-1);
            return last?.symbol === 'AAPL' && last.interval === '1s';
          },
          null,
          { timeout: 15_000 },
        );
        // A few seconds of live 1s bars.
        await page.waitForFunction(() => (window.__tickline?.bars().length ?? 0) >= 3, null, {
          timeout: 15_000,
        });
        const before = await page.evaluate(() => window.__tickline!.liveUpdates);
        await page.waitForFunction((n) => (window.__tickline?.liveUpdates ?? 0) > n + 3, before, {
          timeout: 15_000,
        });
        const bars = await page.evaluate(() => window.__tickline!.bars());
        expect(bars.length).toBeGreaterThan(0);
        expect(bars.every((b) => b.interval === '1s' && b.symbol === 'AAPL')).toBe(true);
        // More than the background: candles and volume are drawn.
        await expect.poll(candlePixels, { timeout: 10_000 }).toBeGreaterThan(50);
        await page.screenshot({ path: join(ARTIFACTS, `chart-aapl-1s-live${suffix}.png`) });
      });

      it('shows the injected bad trades on the quality page, each with its rule and raw payload', async () => {
        await page.goto(`${url}/#/quality`);
        await page.waitForFunction(() => (window.__ticklineQuality?.rows().length ?? 0) > 0, null, {
          timeout: 30_000,
        });
        const rows = await page.evaluate(() => window.__ticklineQuality!.rows());
        const injected = [
          'not_finite',
          'non_positive_price',
          'negative_size',
          'future_timestamp',
          'unsubscribed_symbol',
          'late_trade',
          'price_outlier',
          'malformed_message',
        ];
        expect(rows.every((r) => injected.includes(r.rule))).toBe(true);
        const first = rows[0]!;
        const cell = page.locator('table.rejects tbody tr').first();
        await expect(cell.locator('td.rule').textContent()).resolves.toBe(first.rule);
        await expect(cell.locator('code').textContent()).resolves.toBe(first.payload);
        // The chart stacks every rule's rejects; the simulator ran for seconds, so the bars are per second.
        await page.waitForFunction(
          () => Object.keys(window.__ticklineQuality!.totals()).length > 0,
        );
        const chart = await page.evaluate(() => ({
          bucket: window.__ticklineQuality!.bucket(),
          totals: window.__ticklineQuality!.totals(),
        }));
        expect(chart.bucket).toBe('1s');
        expect(Object.keys(chart.totals).every((r) => injected.includes(r))).toBe(true);
        for (const r of new Set(rows.map((x) => x.rule)))
          expect(chart.totals[r]).toBeGreaterThan(0);
        await expect(page.locator('#legend span').count()).resolves.toBe(
          Object.keys(chart.totals).length,
        );
        // A real time axis: every second from the first reject to now, the empty ones too.
        const times = await page.evaluate(() => window.__ticklineQuality!.times());
        expect(times.length).toBeGreaterThan(1);
        expect(times.every((t, i) => i === 0 || t - times[i - 1]! === 1_000)).toBe(true);
        // Replay is offered only on what can be replayed: never on a malformed message.
        const all = await page.evaluate(() => window.__ticklineQuality!.rows());
        expect(all.filter((r) => r.rule === 'malformed_message').every((r) => !r.replayable)).toBe(
          true,
        );
        await expect(page.locator('table.rejects button.replay').count()).resolves.toBe(
          all.filter((r) => r.replayable).length,
        );
        await page.screenshot({ path: join(ARTIFACTS, `quality${suffix}.png`), fullPage: true });
        // Filters by rule (and symbol, stage) go into the URL and narrow the chart and the table.
        const rule = all[0]!.rule;
        await page.selectOption('#qRule', rule);
        await page.waitForFunction(
          (r) =>
            window.__ticklineQuality!.filter().rule === r &&
            Object.keys(window.__ticklineQuality!.totals()).join() === r &&
            window.__ticklineQuality!.rows().every((x) => x.rule === r),
          rule,
        );
        expect(page.url()).toContain(`rule=${rule}`);
      });

      it('lists the stored series and runs a backfill from the form to 100 %', async () => {
        await page.goto(`${url}/#/data`);
        await page.waitForFunction(() => (window.__ticklineData?.series().length ?? 0) > 0, null, {
          timeout: 20_000,
        });
        const names = await page.evaluate(() =>
          window.__ticklineData!.series().map((s) => `${s.symbol} ${s.interval}`),
        );
        expect(names).toContain('SPX 1d');
        await page.fill('#bfSymbols', 'AAPL');
        await page.fill('#bfFrom', '2020-08-01');
        await page.fill('#bfTo', '2020-11-07');
        await page.click('#backfill button[type="submit"]');
        await page.waitForFunction(() => window.__ticklineData?.job()?.state === 'done', null, {
          timeout: 30_000,
        });
        const job = await page.evaluate(() => window.__ticklineData!.job()!);
        expect(job.progress).toMatchObject({ done: 1, total: 1, rows: 49 });
        expect(await page.locator('#job progress').getAttribute('value')).toBe('1');
        await expect(page.locator('.jobText').textContent()).resolves.toMatch(
          /^1\/1 symbols · 49 rows/,
        );
        // Every series with two bars or more has its sparkline of the latest closes.
        await page.waitForFunction(() => window.__ticklineData!.sparksLoaded());
        const listed = await page.evaluate(() => window.__ticklineData!.series());
        const multi = listed.filter((s) => s.kind === 'bars' && s.rows >= 2).length;
        // The live trades are counted on a row of their own, never "0 rows".
        const trades = listed.filter((s) => s.kind === 'trades');
        expect(trades.length).toBeGreaterThan(0);
        expect(trades.every((s) => s.interval === 'trades' && s.rows > 0)).toBe(true);
        // Rejects-only symbols (the simulator's unsubscribed ones) are not listed as data.
        expect(listed.some((s) => s.symbol.endsWith('.UNSUBSCRIBED'))).toBe(false);
        await expect(page.locator('table.series svg.spark polyline').count()).resolves.toBe(multi);
        await page.screenshot({ path: join(ARTIFACTS, `data${suffix}.png`), fullPage: true });
      });
    });
  });
}

let pgDrop: (() => Promise<void>) | null = null;
let pgUrl: string | null = null;
dashboardSuite('duckdb', async () => []);
dashboardSuite('postgres', async () => {
  if (!pgUrl) {
    const db = await freshDatabase('tl_browser');
    pgUrl = db.url;
    pgDrop = db.drop;
  }
  return ['--store', pgUrl];
});
afterAll(async () => {
  await pgDrop?.();
});
