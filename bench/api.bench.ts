/**
 * The API: one year of 1-minute bars for one symbol (98,280 bars with their
 * indicators) as JSON, Arrow and CSV, timed inside the server (Server-Timing),
 * and WebSocket fan-out: the live path's ingest rate with 200 subscribed clients
 * against none.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { createServer } from '../src/api/server.ts';
import { StreamHub } from '../src/api/stream-hub.ts';
import { loadConfig } from '../src/core/config.ts';
import type { Bar } from '../src/core/records.ts';
import { MemoryLog } from '../src/log/memory/memory-log.ts';
import { Metrics } from '../src/observability/metrics.ts';
import { StreamPipeline } from '../src/pipelines/stream.ts';
import { openStoreAt } from '../src/store/open-store.ts';
import type { Store } from '../src/store/store.ts';
import { arraySource } from './array-source.ts';
import { LIVE_SYMBOLS, liveMessages } from './live.bench.ts';

/** A trading year of 1-minute bars: 252 sessions × 390 minutes from 14:30 UTC, a seeded walk. */
export function minuteBars(): Bar[] {
  const out: Bar[] = [];
  let p = 100;
  let s = 7;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  let day = Date.UTC(2023, 0, 3);
  for (let d = 0; d < 252; day += 86_400_000) {
    const wd = new Date(day).getUTCDay();
    if (wd === 0 || wd === 6) continue;
    d++;
    for (let m = 0; m < 390; m++) {
      const open = p;
      p *= 1 + (rand() - 0.5) * 0.002;
      const hi = Math.max(open, p) * (1 + rand() * 0.0005);
      const lo = Math.min(open, p) * (1 - rand() * 0.0005);
      out.push({
        symbol: 'BENCH',
        interval: '1m',
        ts: day + 14.5 * 3_600_000 + m * 60_000,
        open,
        high: hi,
        low: lo,
        close: p,
        volume: Math.round(1_000 + rand() * 9_000),
        adjClose: null,
        source: 'bench',
      });
    }
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** An API server on a random loopback port with `hub` at /api/stream; returns it and the stream URL. */
export async function serveHub(store: Store, hub: StreamHub) {
  const app = await createServer({
    store,
    cfg: loadConfig({ cwd: '/', env: {} }),
    metrics: new Metrics(),
    requireKeyForReads: false,
    hub,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  return {
    app,
    url: `ws://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/api/stream`,
  };
}

export async function benchApiBars(dir: string, runs = 15) {
  const file = join(dir, 'api.duckdb');
  rmSync(file, { force: true });
  rmSync(`${file}.wal`, { force: true });
  const store = await openStoreAt(file);
  const bars = minuteBars();
  await store.write({ raw: [], bars, rejects: [], actions: [], instruments: [] });
  await store.refreshCurated([{ symbol: 'BENCH', interval: '1m' }]);
  const cfg = loadConfig({ cwd: '/', env: {} });
  const app = await createServer({ store, cfg, metrics: new Metrics(), requireKeyForReads: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const url = `${base}/api/bars?symbol=BENCH&interval=1m&limit=100000&indicators=sma_20,rsi_14,macd`;
  const out: Record<
    string,
    { serverMs: number; roundTripMs: number; bytes: number; rows: number; refreshMs?: number }
  > = {};
  // Three kinds of request: the first read after a write to the series' oldest bar (every
  // cached row is stale: the whole series is read), the first read after a new bar at the end
  // and the curated refresh that follows it (what a live series gets: the cached rows are kept
  // and only the new one is read), and the same request repeated (from the query cache).
  const kinds = {
    'first read after a write to its oldest bar': 'oldest',
    'first read after a new bar and a curated refresh': 'append',
    'repeated: from the query cache': 'repeat',
  } as const;
  let next = bars[bars.length - 1]!;
  for (const format of ['json', 'arrow', 'csv'] as const) {
    for (const [label, kind] of Object.entries(kinds)) {
      const server: number[] = [];
      const trip: number[] = [];
      const refresh: number[] = [];
      let bytes = 0;
      for (let i = 0; i < runs; i++) {
        if (kind === 'oldest')
          await store.write({
            raw: [],
            bars: [bars[0]!],
            rejects: [],
            actions: [],
            instruments: [],
          });
        if (kind === 'append') {
          next = { ...next, ts: next.ts + 60_000 };
          await store.write({ raw: [], bars: [next], rejects: [], actions: [], instruments: [] });
          const t = performance.now();
          await store.refreshCurated([{ symbol: 'BENCH', interval: '1m' }]);
          refresh.push(performance.now() - t);
        }
        const t0 = performance.now();
        const res = await fetch(`${url}&format=${format}`);
        const body = await res.arrayBuffer();
        trip.push(performance.now() - t0);
        server.push(Number(/dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1]));
        bytes = body.byteLength;
      }
      out[`${format} (${label})`] = {
        serverMs: median(server),
        roundTripMs: median(trip),
        bytes,
        rows: bars.length,
        ...(refresh.length > 0 ? { refreshMs: median(refresh) } : {}),
      };
    }
  }
  await app.close();
  await store.close();
  return out;
}

/**
 * The live path's ingest rate with `clients` WebSocket clients subscribed
 * to every symbol's 1s and 1m bars, at an offered load (`rate` trades/s,
 * `perMessage` trades per message) or as fast as it goes; and the update
 * latency: from the hub taking a bar event to a client reading the frame
 * that carries it (for forming-bar updates, from the newest update of that
 * bar, which is what conflation delivers). A sample of the clients parse
 * their frames for it; the others only count them.
 */
export async function benchFanOut(
  dir: string,
  trades: number,
  clients: number,
  opts: { perMessage?: number; rate?: number } = {},
) {
  const file = join(dir, 'fanout.duckdb');
  rmSync(file, { force: true });
  rmSync(`${file}.wal`, { force: true });
  const store = await openStoreAt(file);
  const hub = new StreamHub({ store });
  const { app, url } = await serveHub(store, hub);
  let received = 0;
  const emitted = new Map<string, number>();
  const latencies: number[] = [];
  const keyOf = (kind: string, b: { symbol: string; interval: string; ts: number }): string =>
    `${kind === 'update' ? 'update' : kind}|${b.symbol}|${b.interval}|${b.ts}`;
  const sockets: WebSocket[] = [];
  for (let i = 0; i < clients; i++) {
    const ws = new WebSocket(url);
    await new Promise((r) => ws.once('open', r));
    const sampled = i % 20 === 0;
    ws.on('message', (data) => {
      received++;
      if (!sampled) return;
      const now = performance.now();
      for (const m of JSON.parse(String(data)) as { type: string; kind?: string; bar?: Bar }[]) {
        if (m.type !== 'bar' || !m.bar || !m.kind) continue;
        const at = emitted.get(keyOf(m.kind, m.bar));
        if (at !== undefined) latencies.push(now - at);
      }
    });
    ws.send(
      JSON.stringify({
        type: 'subscribe',
        symbols: LIVE_SYMBOLS,
        intervals: ['1s', '1m'],
        trades: false,
      }),
    );
    sockets.push(ws);
  }
  await new Promise((r) => setTimeout(r, 200));
  const per = opts.perMessage ?? 1;
  const messages = liveMessages(trades, per);
  const log = new MemoryLog();
  const p = new StreamPipeline({
    source: arraySource(messages, opts.rate ? opts.rate / per : undefined),
    symbols: LIVE_SYMBOLS,
    store,
    log,
    live: { ...loadConfig({ cwd: '/', env: {} }).live, intervals: ['1s', '1m'] },
    futureSkewMs: 60_000,
    onEvent: (e) => {
      if (clients > 0 && 'bar' in e) emitted.set(keyOf(e.kind, e.bar), performance.now());
      hub.publish(e);
    },
  });
  const t0 = performance.now();
  await p.run();
  const seconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 500));
  for (const ws of sockets) ws.close();
  await log.close();
  await app.close();
  await store.close();
  const sorted = Float64Array.from(latencies).sort();
  const at = (q: number): number =>
    sorted.length
      ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!
      : Number.NaN;
  return {
    clients,
    tradesPerSec: trades / seconds,
    framesReceived: received,
    latencyP50: at(0.5),
    latencyP99: at(0.99),
    latencySamples: sorted.length,
  };
}
