/**
 * The data page: per symbol and interval, rows, first and last bar,
 * freshness, gaps and rejects, with a sparkline of the latest closes; and a
 * backfill form that starts a job and shows its live progress.
 */
import { type ApiGet, adminBlocked, getJson, postJson, type SeriesInfo } from './api.ts';

type Job = ApiGet<'/api/jobs/{id}'>;

const esc = (s: string) =>
  s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');

function ago(ms: number | null): string {
  if (ms === null) return '';
  const s = ms / 1000;
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7_200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3_600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

/** An inline SVG line of the values. */
function sparkline(values: number[]): string {
  if (values.length < 2) return '';
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const w = 120;
  const h = 28;
  const pts = values
    .map(
      (v, i) =>
        `${((i / (values.length - 1)) * w).toFixed(1)},${(h - ((v - lo) / (hi - lo || 1)) * h).toFixed(1)}`,
    )
    .join(' ');
  const up = values[values.length - 1]! >= values[0]!;
  return `<svg class="spark" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><polyline fill="none" stroke="${up ? '#2f9e44' : '#e03131'}" stroke-width="1.5" points="${pts}"/></svg>`;
}

declare global {
  interface Window {
    __ticklineData?: {
      series: () => SeriesInfo[];
      job: () => Job | null;
      /** Whether every listed series' sparkline is loaded. */
      sparksLoaded: () => boolean;
    };
  }
}

export function dataPage(root: HTMLElement): () => void {
  root.innerHTML = `
    <form id="backfill" class="toolbar backfill">
      <strong>Backfill</strong>
      <select id="bfSource" aria-label="source"><option value="yahoo">Yahoo</option><option value="stooq">Stooq</option></select>
      <input id="bfSymbols" placeholder="AAPL,MSFT" size="16" required>
      <label>from <input id="bfFrom" type="date" required></label>
      <label>to <input id="bfTo" type="date"></label>
      <select id="bfInterval" aria-label="interval">${['1d', '1wk', '1mo', '1h', '15m', '5m', '1m'].map((i) => `<option>${i}</option>`).join('')}</select>
      <button type="submit">Start</button>
    </form>
    <div id="job" class="job" hidden><progress max="1" value="0"></progress> <span class="jobText"></span></div>
    <p id="message" class="message" hidden></p>
    <table class="series"><thead><tr><th>symbol</th><th>interval</th><th>rows</th><th>first</th><th>last</th>
      <th>freshness</th><th>gaps</th><th>rejects</th><th>latest closes</th></tr></thead><tbody></tbody></table>
    <section id="rejectedOnly" hidden>
      <h3>Rejected, nothing stored</h3>
      <p class="muted">Symbols whose every record was rejected (an unsubscribed symbol, a malformed message with no symbol). Their records are in the quarantine.</p>
      <table class="rejected"><thead><tr><th>symbol</th><th>of</th><th>rejects</th></tr></thead><tbody></tbody></table>
    </section>`;
  const $ = <T extends HTMLElement>(sel: string) => root.querySelector(sel) as T;
  const message = $<HTMLParagraphElement>('#message');
  const body = $<HTMLTableSectionElement>('tbody');
  const show = (text: string | null, kind: 'info' | 'error' = 'info') => {
    message.hidden = text === null;
    message.textContent = text ?? '';
    message.className = `message ${kind}`;
  };
  let series: SeriesInfo[] = [];
  /** The last sparkline of each series, shown while a refresh loads the new one (no flicker). */
  const sparks = new Map<string, string>();
  let job: Job | null = null;
  let stopped = false;

  async function refresh(): Promise<void> {
    try {
      const all = (await getJson('/api/symbols')).symbols;
      series = all.filter((s) => s.kind !== 'rejects');
      const rejectedOnly = all.filter((s) => s.kind === 'rejects');
      const section = $<HTMLElement>('#rejectedOnly');
      section.hidden = rejectedOnly.length === 0;
      section.querySelector('tbody')!.innerHTML = rejectedOnly
        .map(
          (s) =>
            `<tr><td>${s.symbol === '(none)' ? '<span class="muted">(no symbol: malformed)</span>' : `<a href="#/quality?symbol=${encodeURIComponent(s.symbol)}">${esc(s.symbol)}</a>`}</td><td>${esc(s.interval)}</td><td>${s.rejects}</td></tr>`,
        )
        .join('');
      if (series.length === 0) {
        body.innerHTML = '';
        show(
          'Nothing stored yet: start a backfill above, or run `tickline up` to load the bundled history.',
        );
        return;
      }
      show(null);
      const fmt = (ms: number | null, interval: string) =>
        ms === null
          ? ''
          : new Date(ms)
              .toISOString()
              .slice(0, ['1d', '1wk', '1mo'].includes(interval) ? 10 : 19)
              .replace('T', ' ');
      body.innerHTML = series
        .map(
          (
            s,
            i,
          ) => `<tr><td>${esc(s.symbol)}</td><td>${esc(s.interval)}</td><td>${s.rows.toLocaleString('en-US')}</td>
            <td>${fmt(s.firstTs, s.interval)}</td><td>${fmt(s.lastTs, s.interval)}</td><td>${ago(s.freshnessMs)}</td>
            <td>${(s as SeriesInfo & { gaps?: number | null }).gaps ?? ''}</td><td>${s.rejects}</td><td data-spark="${i}">${sparks.get(`${s.symbol} ${s.interval}`) ?? ''}</td></tr>`,
        )
        .join('');
      await Promise.all(
        series.map(async (s, i) => {
          if (s.kind !== 'bars') return;
          const q = new URLSearchParams({
            symbol: s.symbol,
            interval: s.interval,
            order: 'desc',
            limit: '60',
          });
          const r = await getJson('/api/bars', { query: q.toString() });
          const svg = sparkline(r.bars.map((b) => b.close).reverse());
          sparks.set(`${s.symbol} ${s.interval}`, svg);
          const cell = body.querySelector(`[data-spark="${i}"]`);
          if (cell) cell.innerHTML = svg;
        }),
      );
    } catch (err) {
      show(`Could not load what is stored: ${(err as Error).message}`, 'error');
    }
  }

  async function follow(id: string): Promise<void> {
    const box = $<HTMLDivElement>('#job');
    const bar = box.querySelector('progress') as HTMLProgressElement;
    const text = box.querySelector('.jobText') as HTMLSpanElement;
    box.hidden = false;
    while (!stopped) {
      job = await getJson('/api/jobs/{id}', { params: { id } });
      const p = job.progress;
      bar.max = Math.max(1, p.total);
      bar.value = p.done;
      text.textContent = `${p.done}/${p.total} symbols · ${p.rows.toLocaleString('en-US')} rows · ${p.rejects} rejects · ${p.errors} errors · ${job.state}${job.errors.length ? ` (${job.errors.map((e) => `${e.symbol}: ${e.message}`).join('; ')})` : ''}`;
      if (job.state !== 'running') break;
      await new Promise((r) => setTimeout(r, 300));
    }
    await refresh();
  }

  $<HTMLFormElement>('#backfill').addEventListener('submit', (e) => {
    e.preventDefault();
    const blocked = adminBlocked('A backfill');
    if (blocked) {
      show(blocked, 'error');
      return;
    }
    const symbols = $<HTMLInputElement>('#bfSymbols')
      .value.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const to = $<HTMLInputElement>('#bfTo').value;
    const payload = {
      source: $<HTMLSelectElement>('#bfSource').value,
      symbols,
      from: $<HTMLInputElement>('#bfFrom').value,
      ...(to ? { to } : {}),
      interval: $<HTMLSelectElement>('#bfInterval').value,
    };
    void postJson('/api/backfill', payload)
      .then(async (r) => {
        show(null);
        await follow(r.id);
      })
      .catch((err: Error) => show(`Backfill not started: ${err.message}`, 'error'));
  });

  window.__ticklineData = {
    series: () => series,
    job: () => job,
    sparksLoaded: () =>
      series.every((s) => s.kind !== 'bars' || sparks.has(`${s.symbol} ${s.interval}`)),
  };
  void refresh();
  const timer = setInterval(() => void refresh(), 10_000);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
