/// <reference lib="dom" />
/**
 * Every page of the dashboard in Chromium, as a newcomer meets it: the
 * overview, the chart, data quality, data, runs, the API reference and the
 * sign-in page; each at 1440×900 and 390 px wide, light and dark (the
 * system's colour scheme), with a screenshot, and an accessibility check
 * (axe-core: no serious or critical violation). Then the chart's reading
 * aids: the legend under the crosshair, daily bars by date, the RSI and MACD
 * pane titles, the note on a series too short for an indicator, the view in
 * the URL, and the symbol search by keyboard.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.ts';
import { ROOT, type RunningServer, startServer } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';

const ARTIFACTS = join(ROOT, 'test-artifacts', 'pages');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
let browser: Browser;
let server: RunningServer;

interface Probe {
  __tickline?: { symbol: string; interval: string; bars: () => { ts: number }[] };
  __ticklineHome?: { loaded: () => boolean; tiles: () => Record<string, string> };
  __ticklineQuality?: { rows: () => unknown[] };
  __ticklineData?: { series: () => unknown[] };
  __ticklineRuns?: { runs: () => unknown[] };
}

/** How each page shows it is ready (its data drawn). */
const PAGES: { name: string; path: string; ready: () => boolean }[] = [
  {
    name: 'overview',
    path: '/#/home',
    ready: () => (window as unknown as Probe).__ticklineHome?.loaded() === true,
  },
  {
    name: 'chart',
    path: '/#/chart?symbol=SPX&interval=1d',
    ready: () => ((window as unknown as Probe).__tickline?.bars().length ?? 0) > 100,
  },
  {
    name: 'quality',
    path: '/#/quality',
    ready: () => ((window as unknown as Probe).__ticklineQuality?.rows().length ?? 0) > 0,
  },
  {
    name: 'data',
    path: '/#/data',
    ready: () => ((window as unknown as Probe).__ticklineData?.series().length ?? 0) > 0,
  },
  {
    name: 'runs',
    path: '/#/runs',
    ready: () => (window as unknown as Probe).__ticklineRuns !== undefined,
  },
  {
    name: 'api-docs',
    path: '/api/docs',
    ready: () => document.querySelector('.api-content, [role="navigation"]') !== null,
  },
];

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startServer(['--port', '0', '--rate', '200', '--fault-rate', '0.02'], {
    TICKLINE_DATA_DIR: tempDir(),
  });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function axeProblems(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: AXE });
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (o: object) => Promise<unknown> } }).axe;
    return (await axe.run({ resultTypes: ['violations'] })) as {
      violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[];
    };
  });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help} at ${v.nodes
          .map((n) => n.target.join(' '))
          .slice(0, 3)
          .join(', ')}`,
    );
}

describe('every page, wide and narrow, light and dark', () => {
  for (const scheme of ['light', 'dark'] as const) {
    for (const [w, h] of [
      [1440, 900],
      [390, 844],
    ] as const) {
      it(`${scheme}, ${w} px: each page draws its data, with no serious accessibility problem`, async () => {
        const context = await browser.newContext({
          viewport: { width: w, height: h },
          colorScheme: scheme,
        });
        const page = await context.newPage();
        try {
          const problems: string[] = [];
          for (const p of PAGES) {
            await page.goto(`${server.url}${p.path}`);
            await page.waitForFunction(p.ready, null, { timeout: 30_000 });
            // The page's own colours follow the scheme.
            const bg = await page.evaluate(
              () => getComputedStyle(document.documentElement).backgroundColor,
            );
            if (p.name !== 'api-docs') {
              const [r] = bg.match(/\d+/g)!.map(Number);
              expect(r! < 80, `${p.name} background ${bg} in ${scheme}`).toBe(scheme === 'dark');
            }
            await page.screenshot({
              path: join(ARTIFACTS, `${p.name}-${scheme}-${w}.png`),
              fullPage: p.name !== 'chart',
            });
            // The reference page is Redoc's (checked by its authors); ours are checked here.
            if (p.name !== 'api-docs') {
              problems.push(...(await axeProblems(page)).map((x) => `${p.name}: ${x}`));
            }
          }
          expect(problems).toEqual([]);
        } finally {
          await context.close();
        }
      });
    }
  }
});

describe('the chart as a trader reads it', () => {
  it('reads out OHLCV and the shown indicators under the crosshair, daily bars by date', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(`${server.url}/#/chart?symbol=SPX&interval=1d&ind=sma_20,bb`);
    await page.waitForFunction(
      () => ((window as unknown as Probe).__tickline?.bars().length ?? 0) > 100,
    );
    // The last bar, until the crosshair points at another.
    const legend = () => page.locator('#chartLegend').textContent();
    await expect(legend()).resolves.toMatch(
      /^SPX 1d \d{4}-\d{2}-\d{2} O [\d.]+ H [\d.]+ L [\d.]+ C [\d.]+ \([+-][\d.]+ %\) V [\d.]+[KM]? SMA 20 [\d.]+ BB [\d.]+ \/ [\d.]+ \/ [\d.]+$/,
    );
    const before = await legend();
    const box = (await page.locator('#chart').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.4, box.y + box.height * 0.3);
    await expect.poll(legend).not.toBe(before);
    // A daily bar is a date, never a time of day.
    expect(await page.locator('#chartLegend .when').textContent()).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    await expect(page.locator('#rsiTitle').textContent()).resolves.toMatch(/^RSI 14 {2}[\d.]+$/);
    await expect(page.locator('#macdTitle').textContent()).resolves.toMatch(
      /^MACD 12 26 9 {2}-?[\d.]+ {2}signal -?[\d.]+ {2}hist -?[\d.]+$/,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'chart-crosshair.png') });
    await page.close();
  });

  it('keeps the view in the URL, and opens the same view from it', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(`${server.url}/#/chart?symbol=SPX&interval=1d`);
    await page.waitForFunction(
      () => ((window as unknown as Probe).__tickline?.bars().length ?? 0) > 100,
    );
    await page.check('input[data-overlay="sma_200"]');
    await page.uncheck('input[data-overlay="sma_20"]');
    await expect.poll(() => page.url()).toContain('ind=sma_50%2Csma_200');
    const shared = page.url();
    const other = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await other.goto(shared);
    await other.waitForFunction(
      () => ((window as unknown as Probe).__tickline?.bars().length ?? 0) > 100,
    );
    expect(
      await other.evaluate(() => [
        (window as unknown as Probe).__tickline!.symbol,
        (window as unknown as Probe).__tickline!.interval,
      ]),
    ).toEqual(['SPX', '1d']);
    expect(await other.isChecked('input[data-overlay="sma_200"]')).toBe(true);
    expect(await other.isChecked('input[data-overlay="sma_20"]')).toBe(false);
    await expect(other.locator('#chartLegend').textContent()).resolves.toMatch(/SMA 50 .*SMA 200/);
    await other.close();
    await page.close();
  });

  it('picks a symbol with the keyboard: type, arrow down, Enter', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(`${server.url}/#/chart?symbol=AAPL&interval=1d`);
    await page.waitForFunction(() => (window as unknown as Probe).__tickline?.symbol === 'AAPL');
    await page.fill('#symbol', '');
    await page.type('#symbol', 'SP');
    await page.waitForSelector('#symbolList li[role="option"]');
    expect(await page.getAttribute('#symbol', 'aria-expanded')).toBe('true');
    await page.keyboard.press('ArrowDown');
    expect(await page.getAttribute('#symbol', 'aria-activedescendant')).toBe('symbolList-0');
    await expect(page.locator('#symbolList li[aria-selected="true"]').textContent()).resolves.toBe(
      'SPX',
    );
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => (window as unknown as Probe).__tickline?.symbol === 'SPX');
    expect(await page.getAttribute('#symbol', 'aria-expanded')).toBe('false');
    await page.close();
  });

  it('explains a series too short for an indicator instead of a blank pane', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    // The simulator's 1m bars: a few minutes at most, fewer than SMA 50 and MACD need.
    await page.goto(`${server.url}/#/chart?symbol=AAPL&interval=1m&ind=sma_50`);
    await page.waitForFunction(
      () => ((window as unknown as Probe).__tickline?.bars().length ?? 0) > 0,
    );
    const n = await page.evaluate(() => (window as unknown as Probe).__tickline!.bars().length);
    expect(n).toBeLessThan(34);
    await expect(page.locator('#chartNotes').textContent()).resolves.toMatch(
      /^AAPL 1m has \d+ bars?: too few for SMA 50 needs 50, .*MACD 12 26 9 needs 34/,
    );
    await expect(page.locator('#macdTitle').textContent()).resolves.toMatch(
      /needs 34 bars, AAPL 1m has/,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'chart-too-short.png') });
    await page.close();
  });
});

describe('the overview', () => {
  it('shows the feed live, the ingest rate, lag, rejects and the store at a glance', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() =>
      (window as unknown as Probe).__ticklineHome?.tiles().tileFeed?.startsWith('live'),
    );
    const tiles = await page.evaluate(() => (window as unknown as Probe).__ticklineHome!.tiles());
    // "since 42 s ago", or minutes on a machine slow enough that the test reaches here later.
    expect(tiles.tileFeed).toMatch(/^live simulator · since \d+ (s|min) ago$/);
    expect(tiles.tileRate).toMatch(/^[\d,]+\/s [\d,]+ trades, [\d,]+ bars stored$/);
    expect(tiles.tileLag).toMatch(/^[\d,]+ ms [\d,]+ queued in the memory log$/);
    expect(tiles.tileRejects).toMatch(/^[\d,]+ in the quarantine · \d+ rules?$/);
    expect(tiles.tileStore).toMatch(/^ready duckdb · \d+ symbols, [\d,]+ bars$/);
    await page.close();
  });
});
