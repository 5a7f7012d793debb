/**
 * The data quality page: rejects per rule over time (one line per rule), the
 * latest rejects with their raw payload, and a replay button for admins
 * (the admin key is kept in this tab's sessionStorage only).
 */
import { createChart, LineSeries, type UTCTimestamp } from 'lightweight-charts';
import { getJson } from './api.ts';

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
    __ticklineQuality?: { rows: () => Reject[]; rules: () => string[] };
  }
}

export function qualityPage(root: HTMLElement): () => void {
  root.innerHTML = `
    <section class="toolbar">
      <strong>Rejects per rule, per minute</strong>
      <label class="admin">Admin key (for replay) <input id="adminKey" type="password" size="28" autocomplete="off"></label>
    </section>
    <p id="message" class="message" hidden></p>
    <div id="rejectChart" class="chart small"></div>
    <h3>Latest rejects</h3>
    <table class="rejects"><thead><tr><th>received</th><th>rule</th><th>stage</th><th>symbol</th><th>message</th><th>raw payload</th><th></th></tr></thead><tbody></tbody></table>`;
  const message = root.querySelector('#message') as HTMLParagraphElement;
  const body = root.querySelector('tbody') as HTMLTableSectionElement;
  const keyInput = root.querySelector('#adminKey') as HTMLInputElement;
  keyInput.value = sessionStorage.getItem('ticklineAdminKey') ?? '';
  keyInput.addEventListener('change', () =>
    sessionStorage.setItem('ticklineAdminKey', keyInput.value.trim()),
  );
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
  const lines = new Map<string, ReturnType<typeof chart.addSeries<'Line'>>>();
  let rows: Reject[] = [];

  async function refresh(): Promise<void> {
    try {
      const [hist, latest] = await Promise.all([
        getJson<{ points: { ts: number; rule: string; n: number }[] }>(
          '/api/quarantine/histogram?bucket=1m',
        ),
        getJson<{ rows: Reject[] }>('/api/quarantine?limit=50'),
      ]);
      rows = latest.rows;
      const byRule = new Map<string, { time: UTCTimestamp; value: number }[]>();
      for (const p of hist.points) {
        const list = byRule.get(p.rule) ?? [];
        list.push({ time: (p.ts / 1000) as UTCTimestamp, value: p.n });
        byRule.set(p.rule, list);
      }
      for (const [rule, data] of byRule) {
        let s = lines.get(rule);
        if (!s) {
          s = chart.addSeries(LineSeries, {
            color: COLOURS[lines.size % COLOURS.length]!,
            lineWidth: 2,
            title: rule,
          });
          lines.set(rule, s);
        }
        s.setData(data);
      }
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
    const key = keyInput.value.trim();
    if (!key) {
      show(
        'Replay needs an admin key: create one with `tickline keys create --scope admin`.',
        'error',
      );
      return;
    }
    void fetch(`/api/quarantine/${id}/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
    })
      .then(async (res) => {
        const r = (await res.json()) as { outcome?: string; rule?: string; message?: string };
        if (res.ok) show(`Replayed: stored, and the bars of its windows rebuilt.`);
        else show(`Not replayed: ${r.message ?? r.outcome ?? res.status}`, 'error');
        await refresh();
      })
      .catch((err: Error) => show(err.message, 'error'));
  });

  window.__ticklineQuality = { rows: () => rows, rules: () => [...lines.keys()] };
  void refresh();
  const timer = setInterval(() => void refresh(), 3_000);
  return () => {
    clearInterval(timer);
    chart.remove();
  };
}
