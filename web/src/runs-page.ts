/**
 * The Runs page: pipelines (schedule, next run, last state), a grid of
 * task partitions × recent runs like Airflow's grid view, recent runs with
 * coloured states and durations, the selected run's attempts on a timeline
 * (Gantt) with its logs, trigger / retry / cancel for admins (the admin key
 * is kept in this tab's sessionStorage only), and the alerts sent. Run and
 * task changes arrive over the WebSocket.
 */
import { type ApiGet, adminBlocked, getJson, postJson } from './api.ts';

type Pipeline = ApiGet<'/api/pipelines'>['pipelines'][number];
type Run = ApiGet<'/api/runs'>['runs'][number];
type Attempt = ApiGet<'/api/runs/{id}'>['attempts'][number];
type LogLine = ApiGet<'/api/runs/{id}/logs'>['logs'][number];
type Alert = ApiGet<'/api/alerts'>['alerts'][number];
/** The admin actions on runs: each answers the run it made or changed. */
type RunAction = '/api/runs/{id}/retry' | '/api/runs/{id}/cancel' | '/api/pipelines/{name}/runs';

/** State colours, dark enough for white text on them (WCAG AA, 4.5:1). */
export const STATE_COLOURS: Record<string, string> = {
  succeeded: '#2b8a3e',
  failed: '#c92a2a',
  running: '#1864ab',
  queued: '#5c636a',
  retrying: '#a35200',
  skipped: '#6c757d',
  cancelled: '#495057',
};

declare global {
  interface Window {
    __ticklineRuns?: {
      runs: () => Run[];
      selected: () => { run: Run; attempts: Attempt[] } | null;
      grid: () => { columns: string[]; rows: string[]; cells: string[][] };
      logs: () => LogLine[];
      updates: () => number;
    };
  }
}

const esc = (s: string) =>
  s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
const time = (ms: number | null) =>
  ms === null ? '' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
const dur = (a: number | null, b: number | null) => {
  if (a === null) return '';
  const s = ((b ?? Date.now()) - a) / 1000;
  return s < 60
    ? `${s.toFixed(1)} s`
    : s < 3600
      ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`
      : `${(s / 3600).toFixed(1)} h`;
};
const badge = (state: string) =>
  `<span class="state" style="background:${STATE_COLOURS[state] ?? '#868e96'}">${esc(state)}</span>`;
const label = (a: { task: string; partition: string }) =>
  a.partition ? `${a.task}[${a.partition}]` : a.task;

export function runsPage(root: HTMLElement): () => void {
  root.innerHTML = `
    <section class="toolbar">
      <strong>Pipelines</strong>
    </section>
    <p id="runsMessage" class="message" hidden></p>
    <table class="pipelines"><thead><tr><th>pipeline</th><th>schedule</th><th>calendar</th><th>tasks</th><th>next run</th><th>last state</th><th></th></tr></thead><tbody></tbody></table>
    <h3>Grid: <select id="gridPipeline" aria-label="pipeline"></select></h3>
    <div id="grid" class="grid"></div>
    <div class="runs-split">
      <div>
        <h3>Runs</h3>
        <table class="runs"><thead><tr><th>run</th><th>pipeline</th><th>trigger</th><th>state</th><th>scheduled</th><th>duration</th><th>rows</th><th>error</th></tr></thead><tbody></tbody></table>
      </div>
      <div id="runDetail" class="run-detail"><p class="muted">Pick a run to see its tasks, timeline and logs.</p></div>
    </div>
    <h3>Alerts</h3>
    <table class="alerts"><thead><tr><th>at</th><th>rule</th><th>state</th><th>channel</th><th>outcome</th><th>subject</th></tr></thead><tbody></tbody></table>`;
  const $ = <T extends Element>(sel: string) => root.querySelector(sel) as T;
  const message = $<HTMLParagraphElement>('#runsMessage');
  const gridSelect = $<HTMLSelectElement>('#gridPipeline');
  const show = (text: string | null, kind: 'info' | 'error' = 'info') => {
    message.hidden = text === null;
    message.textContent = text ?? '';
    message.className = `message ${kind}`;
  };

  let pipelines: Pipeline[] = [];
  let runs: Run[] = [];
  let selected: { run: Run; attempts: Attempt[] } | null = null;
  let logs: LogLine[] = [];
  let logTask = '';
  let grid: { columns: string[]; rows: string[]; cells: string[][] } = {
    columns: [],
    rows: [],
    cells: [],
  };
  let updates = 0;
  let alive = true;

  window.__ticklineRuns = {
    runs: () => runs,
    selected: () => selected,
    grid: () => grid,
    logs: () => logs,
    updates: () => updates,
  };

  const admin = async (
    path: RunAction,
    params: Record<string, string>,
    what: string,
  ): Promise<Run | null> => {
    const blocked = adminBlocked(what);
    if (blocked) {
      show(blocked, 'error');
      return null;
    }
    try {
      const run = await postJson(path, undefined, { params });
      show(`${what}: run ${run.id.slice(0, 8)} ${run.state}`);
      return run;
    } catch (err) {
      show(`${what}: ${(err as Error).message}`, 'error');
      return null;
    }
  };

  const drawPipelines = () => {
    $<HTMLTableSectionElement>('table.pipelines tbody').innerHTML = pipelines
      .map(
        (p) => `<tr>
          <td><strong>${esc(p.name)}</strong>${p.description ? `<div class="muted">${esc(p.description)}</div>` : ''}</td>
          <td>${p.schedule ? `<code>${esc(p.schedule)}</code> ${esc(p.timezone)}${p.paused ? ' (paused)' : ''}` : '<span class="muted">on demand</span>'}</td>
          <td>${esc(p.calendar ?? '')}</td>
          <td>${p.tasks.map((t) => `${esc(t.name)}${t.partitions && t.partitions > 1 ? ` ×${t.partitions}` : ''}`).join(' → ')}</td>
          <td>${time(p.nextRun)}</td>
          <td>${p.lastRun ? badge(p.lastRun.state) : ''}</td>
          <td><button data-trigger="${esc(p.name)}">Run now</button></td></tr>`,
      )
      .join('');
    const want = gridSelect.value || (runs[0]?.pipeline ?? pipelines[0]?.name ?? '');
    gridSelect.innerHTML = pipelines
      .map((p) => `<option${p.name === want ? ' selected' : ''}>${esc(p.name)}</option>`)
      .join('');
  };

  const drawRuns = () => {
    $<HTMLTableSectionElement>('table.runs tbody').innerHTML = runs
      .map(
        (r) => `<tr data-run="${r.id}" class="${selected?.run.id === r.id ? 'selected' : ''}">
          <td><code>${r.id.slice(0, 8)}</code></td><td>${esc(r.pipeline)}</td><td>${esc(r.trigger)}</td><td>${badge(r.state)}</td>
          <td>${time(r.scheduledFor)}</td><td>${dur(r.startedAt, r.endedAt)}</td><td>${r.rows}</td>
          <td class="error-cell" title="${esc(r.error ?? '')}">${esc((r.error ?? '').slice(0, 80))}</td></tr>`,
      )
      .join('');
  };

  /** Airflow's grid: a column per run of the pipeline (oldest left), a row per task partition. */
  const drawGrid = async () => {
    const name = gridSelect.value;
    const cols = runs
      .filter((r) => r.pipeline === name)
      .slice(0, 20)
      .reverse();
    const details = await Promise.all(
      cols.map((r) => getJson('/api/runs/{id}', { params: { id: r.id } })),
    );
    const rows: string[] = [];
    const latest = details.map((d) => {
      const m = new Map<string, Attempt>();
      for (const a of d.attempts) {
        const k = label(a);
        if (!rows.includes(k)) rows.push(k);
        const prior = m.get(k);
        if (!prior || a.attempt >= prior.attempt) m.set(k, a);
      }
      return m;
    });
    grid = {
      columns: cols.map((c) => c.id),
      rows,
      cells: rows.map((k) => latest.map((m) => m.get(k)?.state ?? '')),
    };
    $<HTMLDivElement>('#grid').innerHTML = cols.length
      ? `<table class="grid-table"><thead><tr><th></th>${cols
          .map(
            (c) =>
              `<th data-run="${c.id}" title="${esc(c.id)} ${esc(c.state)}"><span class="dot" style="background:${STATE_COLOURS[c.state]}"></span></th>`,
          )
          .join('')}</tr></thead><tbody>${rows
          .map(
            (k, i) =>
              `<tr><th>${esc(k)}</th>${grid.cells[i]!.map(
                (s, j) =>
                  `<td data-run="${cols[j]!.id}" title="${esc(k)}: ${esc(s || 'not run')}"><span class="cell" style="background:${STATE_COLOURS[s] ?? '#f1f3f5'}"></span></td>`,
              ).join('')}</tr>`,
          )
          .join('')}</tbody></table>`
      : '<p class="muted">No runs of this pipeline yet.</p>';
  };

  /** The selected run: its attempts on a time axis, coloured by state, and its logs. */
  const drawDetail = () => {
    const el = $<HTMLDivElement>('#runDetail');
    if (!selected) return;
    const { run, attempts } = selected;
    const started = attempts.filter((a) => a.startedAt !== null);
    const t0 = Math.min(run.startedAt ?? run.createdAt, ...started.map((a) => a.startedAt!));
    const t1 = Math.max(
      run.endedAt ?? Date.now(),
      ...started.map((a) => a.endedAt ?? Date.now()),
      t0 + 1,
    );
    const W = 560;
    const rowH = 16;
    const left = 150;
    const x = (t: number) => left + ((t - t0) / (t1 - t0)) * (W - left - 10);
    const bars = attempts.filter((a) => a.attempt > 0);
    const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => t0 + f * (t1 - t0));
    const svg = `<svg class="gantt" width="${W}" height="${bars.length * rowH + 24}" role="img" aria-label="attempts over time">
      ${ticks.map((t) => `<line x1="${x(t)}" x2="${x(t)}" y1="0" y2="${bars.length * rowH}" stroke="#e9ecef"/><text x="${x(t)}" y="${bars.length * rowH + 14}" font-size="10" text-anchor="middle" fill="#868e96">+${((t - t0) / 1000).toFixed(1)} s</text>`).join('')}
      ${bars
        .map((a, i) => {
          const s = a.startedAt ?? t0;
          const e = a.endedAt ?? (a.startedAt === null ? t0 : Date.now());
          return `<g data-attempt="${a.id}"><text x="4" y="${i * rowH + 12}" font-size="11">${esc(label(a))}#${a.attempt}</text>
            <rect x="${x(s)}" y="${i * rowH + 3}" width="${Math.max(2, x(e) - x(s))}" height="${rowH - 5}" fill="${STATE_COLOURS[a.state] ?? '#868e96'}"><title>${esc(label(a))} attempt ${a.attempt}: ${esc(a.state)} ${dur(a.startedAt, a.endedAt)}${a.error ? ` — ${esc(a.error)}` : ''}</title></rect></g>`;
        })
        .join('')}</svg>`;
    const tasks = [...new Set(attempts.map((a) => a.task))];
    el.innerHTML = `
      <h3>Run <code>${run.id.slice(0, 8)}</code> of ${esc(run.pipeline)} ${badge(run.state)}</h3>
      <p>${esc(run.trigger)} · scheduled ${time(run.scheduledFor)} · ${dur(run.startedAt, run.endedAt)} · ${run.rows} rows · ${run.rejects} rejects
        <button id="retryRun" ${run.state === 'failed' || run.state === 'cancelled' ? '' : 'disabled'}>Retry failed</button>
        <button id="cancelRun" ${run.state === 'queued' || run.state === 'running' ? '' : 'disabled'}>Cancel</button></p>
      ${run.error ? `<p class="message error">${esc(run.error)}</p>` : ''}
      ${svg}
      <table class="attempts"><thead><tr><th>task</th><th>attempt</th><th>state</th><th>duration</th><th>rows</th><th>error</th></tr></thead><tbody>
      ${attempts.map((a) => `<tr><td>${esc(label(a))}</td><td>${a.attempt}</td><td>${badge(a.state)}</td><td>${dur(a.startedAt, a.endedAt)}</td><td>${a.rows}</td><td class="error-cell">${esc(a.error ?? '')}</td></tr>`).join('')}
      </tbody></table>
      <h4>Logs <select id="logTask"><option value="">all tasks</option>${tasks.map((t) => `<option${t === logTask ? ' selected' : ''}>${esc(t)}</option>`).join('')}</select></h4>
      <pre class="logs">${logs.map((l) => `${time(l.ts)} ${l.level.padEnd(5)} ${esc(label(l))}#${l.attempt} ${esc(l.message)}`).join('\n') || 'no log lines'}</pre>`;
    el.querySelector('#retryRun')?.addEventListener(
      'click',
      () => void admin('/api/runs/{id}/retry', { id: run.id }, 'Retry').then(() => refresh()),
    );
    el.querySelector('#cancelRun')?.addEventListener(
      'click',
      () => void admin('/api/runs/{id}/cancel', { id: run.id }, 'Cancel').then(() => refresh()),
    );
    el.querySelector('#logTask')?.addEventListener('change', (e) => {
      logTask = (e.target as HTMLSelectElement).value;
      void select(run.id);
    });
  };

  const select = async (id: string) => {
    const [detail, l] = await Promise.all([
      getJson('/api/runs/{id}', { params: { id } }),
      getJson('/api/runs/{id}/logs', { params: { id }, query: logTask ? { task: logTask } : {} }),
    ]);
    selected = detail;
    logs = l.logs;
    drawRuns();
    drawDetail();
  };

  const drawAlerts = (alerts: Alert[]) => {
    $<HTMLTableSectionElement>('table.alerts tbody').innerHTML =
      alerts
        .map(
          (a) =>
            `<tr><td>${time(a.at)}</td><td>${esc(a.rule)}</td><td>${esc(a.state)}</td><td>${esc(a.channel)}</td><td>${esc(a.outcome)}</td><td>${esc(a.subject)}</td></tr>`,
        )
        .join('') || '<tr><td colspan="6" class="muted">No alerts sent.</td></tr>';
  };

  let refreshing: Promise<void> | null = null;
  const refresh = (): Promise<void> => {
    refreshing ??= (async () => {
      try {
        const [p, r, a] = await Promise.all([
          getJson('/api/pipelines'),
          getJson('/api/runs', { query: { limit: 50 } }),
          getJson('/api/alerts', { query: { limit: 20 } }),
        ]);
        pipelines = p.pipelines;
        runs = r.runs;
        drawPipelines();
        drawRuns();
        drawAlerts(a.alerts);
        await drawGrid();
        if (selected) await select(selected.run.id);
      } catch (err) {
        show((err as Error).message, 'error');
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  };

  root.addEventListener('click', (e) => {
    const t = e.target as HTMLElement;
    const trigger = t.closest<HTMLButtonElement>('button[data-trigger]');
    if (trigger) {
      void admin(
        '/api/pipelines/{name}/runs',
        { name: trigger.dataset.trigger! },
        `Run ${trigger.dataset.trigger}`,
      ).then(() => refresh());
      return;
    }
    const row = t.closest<HTMLElement>('[data-run]');
    if (row?.dataset.run) void select(row.dataset.run);
  });
  gridSelect.addEventListener('change', () => void drawGrid());

  // Live: run and task changes over the WebSocket (a refresh at most every half second).
  let pending: ReturnType<typeof setTimeout> | null = null;
  let ws: WebSocket | null = null;
  const connect = () => {
    if (!alive) return;
    ws = new WebSocket(
      `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/stream`,
    );
    ws.onopen = () => ws?.send(JSON.stringify({ type: 'subscribe', pipelines: true }));
    ws.onmessage = (ev) => {
      const msgs = JSON.parse(String(ev.data)) as { type: string }[];
      if (!msgs.some((m) => m.type === 'run' || m.type === 'task')) return;
      updates++;
      pending ??= setTimeout(() => {
        pending = null;
        void refresh();
      }, 500);
    };
    ws.onclose = () => {
      if (alive) setTimeout(connect, 2_000);
    };
  };
  connect();
  const poll = setInterval(() => void refresh(), 10_000);
  void refresh();
  return () => {
    alive = false;
    clearInterval(poll);
    if (pending) clearTimeout(pending);
    ws?.close();
  };
}
