/**
 * The data quality page: rejects per rule over time (stacked bars, one colour
 * per rule, in buckets sized to the time the rejects span), the
 * latest rejects with their raw payload, and a replay button for admins
 * (the admin key is kept in this tab's sessionStorage only).
 */
import { createChart, HistogramSeries, type UTCTimestamp } from 'lightweight-charts';
import { adminBlocked, getJson, postJson } from './api.ts';

interface Reject {
  id: string;
  stage: string;
  source: string;
  symbol: string | null;
  rule: string;
  message: string;
  payload: string;
  receivedAt: number;
}

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
    };
  }
}

export function qualityPage(root: HTMLElement): () => void {
  root.innerHTML = `
    <section class="toolbar">
      <strong>Rejects per rule, per <span id="bucketName">minute</span></strong>
      <span id="legend" class="legend"></span>
    </section>
    <p id="message" class="message" hidden></p>
    <div id="rejectChart" class="chart small"></div>
    <h3>Latest rejects</h3>
    <table class="rejects"><thead><tr><th>received</th><th>rule</th><th>stage</th><th>symbol</th><th>message</th><th>raw payload</th><th></th></tr></thead><tbody></tbody></table>`;
  const message = root.querySelector('#message') as HTMLParagraphElement;
  const body = root.querySelector('tbody') as HTMLTableSectionElement;
  const show = (text: string | null, kind: 'info' | 'error' = 'info') => {
    message.hidden = text === null;
    message.textContent = text ?? '';
    message.className = `message ${kind}`;
  };
  const chart = createChart(root.querySelector('#rejectChart') as HTMLElement, {
    autoSize: true,
    layout: { background: { color: '#ffffff' }, textColor: '#343a40' },
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  // Stacked bars: series k draws, per bucket, the sum of rules 0..k; later series are drawn over
  // earlier ones, so each rule's own count is the band of its colour.
  const stacks: ReturnType<typeof chart.addSeries<'Histogram'>>[] = [];
  const colour = new Map<string, string>();
  let rows: Reject[] = [];
  let bucket = '1m';
  let totals: Record<string, number> = {};
  let fitted = false;
  const BUCKETS = [
    ['1s', 'second', 1_000],
    ['1m', 'minute', 60_000],
    ['1h', 'hour', 3_600_000],
    ['1d', 'day', 86_400_000],
  ] as const;

  type Point = { ts: number; rule: string; n: number };
  const histogram = (b: string) =>
    getJson<{ points: Point[] }>(`/api/quarantine/histogram?bucket=${b}`).then((r) => r.points);

  /** The coarsest bucket that still gives 20 bars or more (or per second, for a short span). */
  async function loadHistogram(): Promise<Point[]> {
    let points: Point[] = [];
    let pick: (typeof BUCKETS)[number] = BUCKETS[0];
    for (const b of [...BUCKETS].reverse()) {
      pick = b;
      points = await histogram(b[0]);
      if (points.length === 0 || new Set(points.map((p) => p.ts)).size >= 20) break;
    }
    const [name, label] = pick;
    if (name !== bucket) {
      bucket = name;
      fitted = false;
      chart.applyOptions({ timeScale: { secondsVisible: name === '1s' } });
      (root.querySelector('#bucketName') as HTMLElement).textContent = label;
    }
    return points;
  }

  function draw(points: Point[]): void {
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
    const times = [...byTs.keys()].sort((a, b) => a - b);
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
          const m = byTs.get(t)!;
          let v = 0;
          for (let r = 0; r <= top; r++) v += m.get(rules[r]!) ?? 0;
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

  async function refresh(): Promise<void> {
    try {
      const [points, latest] = await Promise.all([
        loadHistogram(),
        getJson<{ rows: Reject[] }>('/api/quarantine?limit=50'),
      ]);
      rows = latest.rows;
      draw(points);
      body.innerHTML = rows
        .map(
          (
            r,
          ) => `<tr data-id="${r.id}"><td>${new Date(r.receivedAt).toISOString().replace('T', ' ').slice(0, 19)}</td>
            <td class="rule">${esc(r.rule)}</td><td>${esc(r.stage)}</td><td>${esc(r.symbol ?? '')}</td>
            <td>${esc(r.message)}</td><td><code>${esc(r.payload)}</code></td>
            <td><button type="button" class="replay" data-id="${r.id}">Replay</button></td></tr>`,
        )
        .join('');
      show(rows.length === 0 ? 'No rejects: every record so far passed its rules.' : null);
    } catch (err) {
      show(`Could not load the quarantine: ${(err as Error).message}`, 'error');
    }
  }

  body.addEventListener('click', (e) => {
    const id = (e.target as HTMLElement).dataset.id;
    if (!id) return;
    const blocked = adminBlocked('Replay');
    if (blocked) {
      show(blocked, 'error');
      return;
    }
    void postJson<{ outcome?: string }>(`/api/quarantine/${id}/replay`)
      .then(() => show('Replayed: stored, and the bars of its windows rebuilt.'))
      .catch((err: Error) => show(`Not replayed: ${err.message}`, 'error'))
      .then(() => refresh());
  });

  window.__ticklineQuality = {
    rows: () => rows,
    rules: () => Object.keys(totals),
    bucket: () => bucket,
    totals: () => totals,
  };
  void refresh();
  const timer = setInterval(() => void refresh(), 3_000);
  return () => {
    clearInterval(timer);
    chart.remove();
  };
}
