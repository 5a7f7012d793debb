/**
 * The data quality page: rejects per rule over time (stacked bars, one colour
 * per rule, on a real time axis: buckets sized to the time the rejects span,
 * empty buckets drawn empty, up to now), filters by rule, symbol and stage
 * (kept in the URL), the latest rejects with their raw payload, and Replay
 * on the records that can be replayed (an admin session's action).
 */
import { createChart, HistogramSeries, type UTCTimestamp } from 'lightweight-charts';
import { type ApiGet, adminBlocked, getJson, postJson } from './api.ts';

type Reject = ApiGet<'/api/quarantine'>['rows'][number];

const STAGES = ['parse', 'validate', 'decode', 'process', 'store'] as const;
/** Buckets drawn at most: the bucket is the finest that covers the span in this many. */
const MAX_BUCKETS = 720;

const COLOURS = [
  '#e03131',
  '#1c7ed6',
  '#f59f00',
  '#2f9e44',
  '#7048e8',
  '#e64980',
  '#0ca678',
  '#868e96',
];
const esc = (s: string) =>
  s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');

declare global {
  interface Window {
    __ticklineQuality?: {
      rows: () => Reject[];
      rules: () => string[];
      bucket: () => string;
      /** Per rule, the rejects the chart shows. */
      totals: () => Record<string, number>;
      /** The buckets drawn (ms), empty ones included, oldest first. */
      times: () => number[];
      filter: () => Record<string, string>;
    };
  }
}

export function qualityPage(root: HTMLElement): () => void {
  // The filter lives in the URL (#/quality?rule=…&symbol=…&stage=…), so a view can be shared.
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const filter: Record<string, string> = {};
  for (const k of ['rule', 'symbol', 'stage']) {
    const v = params.get(k);
    if (v) filter[k] = v;
  }
  root.innerHTML = `
    <section class="toolbar">
      <strong>Rejects per rule, per <span id="bucketName">minute</span></strong>
      <label>rule <select id="qRule"><option value="">all</option></select></label>
      <label>symbol <input id="qSymbol" size="10" placeholder="all" value="${esc(filter.symbol ?? '')}"></label>
      <label>stage <select id="qStage"><option value="">all</option>${STAGES.map((st) => `<option${filter.stage === st ? ' selected' : ''}>${st}</option>`).join('')}</select></label>
      <span id="legend" class="legend"></span>
    </section>
    <p id="message" class="message" hidden></p>
    <div id="rejectChart" class="chart small" role="img" aria-label="Rejects per rule over time"></div>
    <h3>Latest rejects</h3>
    <table class="rejects"><thead><tr><th>received</th><th>rule</th><th>stage</th><th>symbol</th><th>message</th><th>raw payload</th><th></th></tr></thead><tbody></tbody></table>`;
  const message = root.querySelector('#message') as HTMLParagraphElement;
  const body = root.querySelector('tbody') as HTMLTableSectionElement;
  const ruleSelect = root.querySelector('#qRule') as HTMLSelectElement;
  const show = (text: string | null, kind: 'info' | 'error' = 'info') => {
    message.hidden = text === null;
    message.textContent = text ?? '';
    message.className = `message ${kind}`;
  };
  const dark = matchMedia('(prefers-color-scheme: dark)').matches;
  const chart = createChart(root.querySelector('#rejectChart') as HTMLElement, {
    autoSize: true,
    layout: {
      background: { color: dark ? '#1a1b1e' : '#ffffff' },
      textColor: dark ? '#c1c2c5' : '#343a40',
      attributionLogo: false,
    },
    grid: {
      vertLines: { color: dark ? '#2c2e33' : '#f1f3f5' },
      horzLines: { color: dark ? '#2c2e33' : '#f1f3f5' },
    },
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  // Stacked bars: series k draws, per bucket, the sum of rules 0..k; later series are drawn over
  // earlier ones, so each rule's own count is the band of its colour.
  const stacks: ReturnType<typeof chart.addSeries<'Histogram'>>[] = [];
  const colour = new Map<string, string>();
  const knownRules = new Set<string>();
  let rows: Reject[] = [];
  let bucket = '1m';
  let totals: Record<string, number> = {};
  let times: number[] = [];
  let fitted = false;
  const BUCKETS = [
    ['1s', 'second', 1_000],
    ['1m', 'minute', 60_000],
    ['5m', '5 minutes', 300_000],
    ['1h', 'hour', 3_600_000],
    ['1d', 'day', 86_400_000],
  ] as const;

  type Point = ApiGet<'/api/quarantine/histogram'>['points'][number];
  const query = (extra: Record<string, string>) =>
    new URLSearchParams({ ...filter, ...extra }).toString();
  const histogram = (b: string, from?: number, to?: number) =>
    getJson('/api/quarantine/histogram', {
      query: query({
        bucket: b,
        ...(from !== undefined ? { from: String(from) } : {}),
        ...(to !== undefined ? { to: String(to) } : {}),
      }),
    }).then((r) => r.points);

  /**
   * When the first matching reject came, to the second: the day, then the hour, the minute and
   * the second of it, each read within the one before. Kept while the filter and the rejects
   * before it stay (a replay or a new filter reads it again).
   */
  let first: { key: string; total: number; ts: number } | null = null;
  async function firstReject(daily: Point[]): Promise<number> {
    const key = JSON.stringify(filter);
    const total = daily.reduce((a, p) => a + p.n, 0);
    if (first && first.key === key && first.total <= total) {
      first.total = total;
      return first.ts;
    }
    let ts = Math.min(...daily.map((p) => p.ts));
    for (const [b, width] of [
      ['1h', 86_400_000],
      ['1m', 3_600_000],
      ['1s', 60_000],
    ] as const) {
      const finer = await histogram(b, ts, ts + width);
      if (finer.length === 0) break;
      ts = Math.min(...finer.map((p) => p.ts));
    }
    first = { key, total, ts };
    return ts;
  }

  /**
   * The finest bucket that covers the rejects' span (first reject to now) in at most
   * MAX_BUCKETS buckets, and its points.
   */
  async function loadHistogram(now: number): Promise<{ points: Point[]; step: number }> {
    const daily = await histogram('1d');
    if (daily.length === 0) return { points: [], step: 86_400_000 };
    const since = await firstReject(daily);
    const pick = BUCKETS.find((b) => (now - since) / b[2] <= MAX_BUCKETS) ?? BUCKETS[4];
    const [name, label, step] = pick;
    if (name !== bucket) {
      bucket = name;
      fitted = false;
      chart.applyOptions({ timeScale: { secondsVisible: name === '1s' } });
      (root.querySelector('#bucketName') as HTMLElement).textContent = label;
    }
    return {
      points: name === '1d' ? daily : await histogram(name, Math.floor(since / step) * step),
      step,
    };
  }

  function draw(points: Point[], step: number, now: number): void {
    totals = {};
    for (const p of points) totals[p.rule] = (totals[p.rule] ?? 0) + p.n;
    const rules = Object.keys(totals).sort();
    for (const r of rules) {
      if (!colour.has(r)) colour.set(r, COLOURS[colour.size % COLOURS.length]!);
    }
    const byTs = new Map<number, Map<string, number>>();
    for (const p of points) {
      const m = byTs.get(p.ts) ?? new Map<string, number>();
      m.set(p.rule, p.n);
      byTs.set(p.ts, m);
    }
    // Every bucket from the first reject to now, empty ones too: the axis is time, not rejects.
    times = [];
    if (points.length > 0) {
      const first = Math.min(...byTs.keys());
      const last = Math.max(Math.floor(now / step) * step, ...byTs.keys());
      for (let t = first; t <= last; t += step) times.push(t);
    }
    // The tallest stack (every rule) first, so that the smaller ones are drawn over it.
    while (stacks.length < rules.length) {
      stacks.push(
        chart.addSeries(HistogramSeries, {
          priceLineVisible: false,
          lastValueVisible: false,
          priceFormat: { type: 'price', precision: 0, minMove: 1 },
        }),
      );
    }
    stacks.forEach((series, k) => {
      const top = rules.length - 1 - k; // the stack of rules 0..top
      if (top < 0) {
        series.setData([]);
        return;
      }
      series.applyOptions({ color: colour.get(rules[top]!)! });
      series.setData(
        times.map((t) => {
          const m = byTs.get(t);
          let v = 0;
          for (let r = 0; r <= top; r++) v += m?.get(rules[r]!) ?? 0;
          return { time: (t / 1000) as UTCTimestamp, value: v };
        }),
      );
    });
    (root.querySelector('#legend') as HTMLElement).innerHTML = rules
      .map(
        (r) =>
          `<span><i style="background:${colour.get(r)}"></i>${esc(r)} ${totals[r]!.toLocaleString('en-US')}</span>`,
      )
      .join('');
    // Fitted once per bucket size, so that a refresh does not undo the reader's zoom.
    if (times.length > 0 && !fitted) {
      chart.timeScale().fitContent();
      fitted = true;
    }
  }

  function drawRuleOptions(): void {
    for (const r of Object.keys(totals)) knownRules.add(r);
    if (filter.rule) knownRules.add(filter.rule);
    ruleSelect.innerHTML = `<option value="">all</option>${[...knownRules]
      .sort()
      .map((r) => `<option${filter.rule === r ? ' selected' : ''}>${esc(r)}</option>`)
      .join('')}`;
  }

  async function refresh(): Promise<void> {
    try {
      const now = Date.now();
      const [{ points, step }, latest] = await Promise.all([
        loadHistogram(now),
        getJson('/api/quarantine', { query: query({ limit: '50' }) }),
      ]);
      rows = latest.rows;
      draw(points, step, now);
      drawRuleOptions();
      body.innerHTML = rows
        .map(
          (
            r,
          ) => `<tr data-id="${r.id}"><td>${new Date(r.receivedAt).toISOString().replace('T', ' ').slice(0, 19)}</td>
            <td class="rule">${esc(r.rule)}</td><td>${esc(r.stage)}</td><td>${esc(r.symbol ?? '')}</td>
            <td>${esc(r.message)}</td><td><code>${esc(r.payload)}</code></td>
            <td>${r.replayable ? `<button type="button" class="replay" data-id="${r.id}">Replay</button>` : '<span class="muted" title="not a trade that can be read again (a malformed message, or a bar: run its import again)">—</span>'}</td></tr>`,
        )
        .join('');
      const filtered = Object.keys(filter).length > 0;
      show(
        rows.length === 0
          ? filtered
            ? 'No rejects match this filter.'
            : 'No rejects: every record so far passed its rules.'
          : null,
      );
    } catch (err) {
      show(`Could not load the quarantine: ${(err as Error).message}`, 'error');
    }
  }

  /** Applies the filter controls: into the URL (shareable) and the page. */
  const applyFilter = () => {
    const next: Record<string, string> = {};
    const sym = (root.querySelector('#qSymbol') as HTMLInputElement).value.trim().toUpperCase();
    const stage = (root.querySelector('#qStage') as HTMLSelectElement).value;
    if (ruleSelect.value) next.rule = ruleSelect.value;
    if (sym) next.symbol = sym;
    if (stage) next.stage = stage;
    for (const k of Object.keys(filter)) delete filter[k];
    Object.assign(filter, next);
    const qs = new URLSearchParams(filter).toString();
    history.replaceState(null, '', `#/quality${qs ? `?${qs}` : ''}`);
    fitted = false;
    void refresh();
  };
  ruleSelect.addEventListener('change', applyFilter);
  root.querySelector('#qStage')!.addEventListener('change', applyFilter);
  root.querySelector('#qSymbol')!.addEventListener('change', applyFilter);

  body.addEventListener('click', (e) => {
    const id = (e.target as HTMLElement).dataset.id;
    if (!id) return;
    const blocked = adminBlocked('Replay');
    if (blocked) {
      show(blocked, 'error');
      return;
    }
    void postJson('/api/quarantine/{id}/replay', undefined, { params: { id } })
      .then(() => show('Replayed: stored, and the bars of its windows rebuilt.'))
      .catch((err: Error) => show(`Not replayed: ${err.message}`, 'error'))
      .then(() => refresh());
  });

  window.__ticklineQuality = {
    rows: () => rows,
    rules: () => Object.keys(totals),
    bucket: () => bucket,
    totals: () => totals,
    times: () => times,
    filter: () => ({ ...filter }),
  };
  void refresh();
  const timer = setInterval(() => void refresh(), 3_000);
  return () => {
    clearInterval(timer);
    chart.remove();
  };
}
