/**
 * The home page: the platform's health at a glance, as Grafana's home
 * dashboards give it. The feed and its state, the ingest rate (a chart of the
 * last minutes, sampled here), the lag and backlog, the store's readiness,
 * rejects by rule, what is stored, the last runs and the latest alerts.
 */
import { AreaSeries, createChart, type UTCTimestamp } from 'lightweight-charts';
import { type ApiGet, getJson } from './api.ts';
import { STATE_COLOURS } from './runs-page.ts';
import { chartColours, followTheme } from './theme.ts';

type Health = ApiGet<'/api/health'>;
declare global {
  interface Window {
    __ticklineHome?: {
      loaded: () => boolean;
      tiles: () => Record<string, string>;
      samples: () => number;
    };
  }
}

const esc = (s: string) =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('"', '&quot;');
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ago = (ms: number) => {
  const s = Math.max(0, (Date.now() - ms) / 1000);
  return s < 90
    ? `${Math.round(s)} s ago`
    : s < 5400
      ? `${Math.round(s / 60)} min ago`
      : `${Math.round(s / 3600)} h ago`;
};
const FEED_WORDS: Record<string, string> = {
  starting: 'starting',
  live: 'live',
  reconnecting: 'reconnecting',
  stale: 'stale',
  market_closed: 'market closed',
  error: 'error',
};

export function homePage(root: HTMLElement): () => void {
  root.innerHTML = `
    <h1 class="page-title">Overview</h1>
    <p id="homeMessage" class="message" hidden></p>
    <section class="tiles" aria-label="health">
      <div class="tile" id="tileFeed"><h2>Feed</h2><p class="big">—</p><p class="muted"></p></div>
      <div class="tile" id="tileRate"><h2>Ingest</h2><p class="big">—</p><p class="muted"></p></div>
      <div class="tile" id="tileLag"><h2>Lag</h2><p class="big">—</p><p class="muted"></p></div>
      <div class="tile" id="tileRejects"><h2>Rejects</h2><p class="big">—</p><p class="muted"></p></div>
      <div class="tile" id="tileStore"><h2>Store</h2><p class="big">—</p><p class="muted"></p></div>
    </section>
    <section class="home-grid">
      <div><h2>Trades per second</h2><div id="rateChart" class="chart small" role="img" aria-label="trades per second over the last minutes"></div></div>
      <div><h2>Rejects by rule</h2><ul id="rejectList" class="bars-list"></ul></div>
      <div><h2>Last runs</h2><table class="runs"><thead><tr><th>pipeline</th><th>state</th><th>ended</th></tr></thead><tbody id="homeRuns"></tbody></table></div>
      <div><h2>Alerts</h2><table class="alerts"><thead><tr><th>when</th><th>rule</th><th>state</th><th>subject</th></tr></thead><tbody id="homeAlerts"></tbody></table></div>
    </section>`;
  const $ = <T extends HTMLElement>(sel: string) => root.querySelector(sel) as T;
  const tiles: Record<string, string> = {};
  const tile = (id: string, big: string, small: string, tone: 'ok' | 'warn' | 'bad' | '' = '') => {
    const el = $<HTMLDivElement>(`#${id}`);
    el.className = `tile ${tone}`;
    (el.querySelector('.big') as HTMLElement).textContent = big;
    (el.querySelector('.muted') as HTMLElement).textContent = small;
    tiles[id] = `${big} ${small}`.trim();
  };
  const chart = createChart($('#rateChart'), {
    autoSize: true,
    ...chartColours(),
    timeScale: { timeVisible: true, secondsVisible: true },
    handleScroll: false,
    handleScale: false,
  });
  const stopTheme = followTheme(chart);
  const rate = chart.addSeries(AreaSeries, {
    lineColor: '#1c7ed6',
    topColor: 'rgba(28, 126, 214, 0.35)',
    bottomColor: 'rgba(28, 126, 214, 0.02)',
    lineWidth: 2,
    priceLineVisible: false,
    // From zero up: a rate read against nothing, not against its own wiggle.
    autoscaleInfoProvider: (original: () => { priceRange: { maxValue: number } } | null) => ({
      priceRange: {
        minValue: 0,
        maxValue: Math.max(1, original()?.priceRange.maxValue ?? 1) * 1.1,
      },
    }),
  });
  const samples: { time: UTCTimestamp; value: number }[] = [];
  let loaded = false;
  // What is stored changes slowly and costs a count over the store: read every fifth refresh.
  let storedRead: Promise<ApiGet<'/api/symbols'>> | null = null;
  let refreshes = 0;

  async function refresh(): Promise<void> {
    try {
      if (refreshes++ % 5 === 0 || !storedRead) {
        storedRead = getJson('/api/symbols');
      }
      const [health, stats, runs, alerts, symbols] = await Promise.all([
        getJson('/api/health').catch(
          (e: Error) => ({ status: 'down', error: e.message }) as unknown as Health,
        ),
        getJson('/api/stats'),
        getJson('/api/runs', { query: { limit: 8 } }),
        getJson('/api/alerts', { query: { limit: 8 } }),
        storedRead,
      ]);
      const live = stats.live;
      const feed = live?.feed;
      if (!live) tile('tileFeed', 'none', 'no live path in this process', 'warn');
      else if (feed) {
        tile(
          'tileFeed',
          FEED_WORDS[feed.state] ?? feed.state,
          `${feed.source}${feed.detail ? `: ${feed.detail}` : ''} · since ${ago(feed.since)}`,
          feed.state === 'live'
            ? 'ok'
            : feed.state === 'market_closed' || feed.state === 'starting'
              ? ''
              : 'bad',
        );
      }
      if (live) {
        tile(
          'tileRate',
          `${fmt(live.tradesPerSecond)}/s`,
          `${fmt(live.tradesStored)} trades, ${fmt(live.barsClosed)} bars stored`,
        );
        const now = Math.floor(Date.now() / 1000) as UTCTimestamp;
        if (samples.length === 0 || samples.at(-1)!.time < now) {
          samples.push({ time: now, value: live.tradesPerSecond });
          if (samples.length > 600) samples.shift();
          rate.setData(samples);
        }
        tile(
          'tileLag',
          live.lagMs === null ? '—' : `${fmt(live.lagMs)} ms`,
          `${live.backlog === null ? '?' : fmt(live.backlog)} queued in the ${health.log?.kind ?? ''} log`,
          live.lagMs !== null && live.lagMs > 10_000 ? 'warn' : live.lagMs !== null ? 'ok' : '',
        );
      } else {
        tile('tileRate', '—', '');
        tile('tileLag', '—', '');
      }
      const rejects = Object.entries(stats.rejectsByRule).sort((a, b) => b[1] - a[1]);
      const totalRejects = rejects.reduce((a, [, n]) => a + n, 0);
      tile(
        'tileRejects',
        fmt(totalRejects),
        `in the quarantine · ${rejects.length} rule${rejects.length === 1 ? '' : 's'}`,
        totalRejects > 0 ? 'warn' : 'ok',
      );
      const max = rejects[0]?.[1] ?? 1;
      $('#rejectList').innerHTML = rejects.length
        ? rejects
            .map(
              ([rule, n]) =>
                `<li><a href="#/quality?rule=${encodeURIComponent(rule)}">${esc(rule)}</a><span class="bar" style="width:${Math.max(2, (n / max) * 100)}%"></span><span class="n">${fmt(n)}</span></li>`,
            )
            .join('')
        : '<li class="muted">none</li>';
      const bars = symbols.symbols.filter((s) => s.kind === 'bars');
      tile(
        'tileStore',
        health.status === 'ok' ? 'ready' : health.status,
        `${health.store?.kind ?? '?'} · ${new Set(bars.map((s) => s.symbol)).size} symbols, ${fmt(stats.rows.bars ?? bars.reduce((a, s) => a + s.rows, 0))} bars`,
        health.status === 'ok' ? 'ok' : 'bad',
      );
      $('#homeRuns').innerHTML = runs.runs.length
        ? runs.runs
            .map(
              (r) =>
                `<tr><td><a href="#/runs">${esc(r.pipeline)}</a></td><td><span class="state" style="background:${STATE_COLOURS[r.state] ?? '#495057'}">${esc(r.state)}</span></td><td>${r.endedAt ? ago(r.endedAt) : r.startedAt ? 'running' : 'queued'}</td></tr>`,
            )
            .join('')
        : '<tr><td colspan="3" class="muted">no runs yet</td></tr>';
      $('#homeAlerts').innerHTML = alerts.alerts.length
        ? alerts.alerts
            .map(
              (a) =>
                `<tr><td>${ago(a.at)}</td><td>${esc(a.rule)}</td><td>${esc(a.state)}</td><td>${esc(a.subject)}</td></tr>`,
            )
            .join('')
        : '<tr><td colspan="4" class="muted">no alerts</td></tr>';
      $('#homeMessage').hidden = true;
      loaded = true;
    } catch (err) {
      const m = $<HTMLParagraphElement>('#homeMessage');
      m.hidden = false;
      m.className = 'message error';
      m.textContent = `Could not load the overview: ${(err as Error).message}`;
    }
  }

  window.__ticklineHome = {
    loaded: () => loaded,
    tiles: () => ({ ...tiles }),
    samples: () => samples.length,
  };
  void refresh();
  const timer = setInterval(() => void refresh(), 2_000);
  return () => {
    clearInterval(timer);
    stopTheme();
    chart.remove();
  };
}
