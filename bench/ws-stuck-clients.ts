/**
 * What WebSocket clients that never read cost the server: a hub publishing
 * trades of 2 symbols at ~20k trades/s to N clients, all subscribed, half of
 * which stop reading. The clients live in a child process, so the RSS
 * figures are the server's alone. Prints RSS before the clients, at its
 * peak, and after the stuck ones were dropped, and when they were dropped.
 * Run: `node --expose-gc --import tsx bench/ws-stuck-clients.ts [clients] [heartbeatMs] [tradesPer10ms]`.
 */
import { fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { StreamHub } from '../src/api/stream-hub.ts';
import type { Trade } from '../src/core/records.ts';
import { openStoreAt } from '../src/store/open-store.ts';
import { serveHub } from './api.bench.ts';

if (process.argv[2] === 'clients') {
  // The child: N clients, every second one pauses its socket after subscribing.
  const [url, n] = [process.argv[3]!, Number(process.argv[4])];
  const sockets: WebSocket[] = [];
  const subscribed: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const ws = new WebSocket(url);
    await new Promise((r) => ws.once('open', r));
    // The first frame is the subscription's acknowledgement.
    subscribed.push(new Promise((r) => ws.once('message', r)));
    ws.send(JSON.stringify({ type: 'subscribe', symbols: ['AAPL', 'MSFT'], trades: true }));
    ws.on('message', () => {});
    sockets.push(ws);
  }
  await Promise.all(subscribed);
  for (let i = 0; i < n; i += 2)
    (sockets[i] as unknown as { _socket: { pause(): void } })._socket.pause();
  process.send?.('ready');
  await new Promise(() => {});
}

const clients = Number(process.argv[2] ?? 100);
const heartbeatMs = Number(process.argv[3] ?? 10_000);
const perTick = Number(process.argv[4] ?? 200);
const mb = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MB`;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const store = await openStoreAt(join(mkdtempSync(join(tmpdir(), 'ws-stuck-')), 'h.duckdb'));
const hub = new StreamHub({ store, heartbeatMs });
const { app, url } = await serveHub(store, hub);
gc();
const before = process.memoryUsage().rss;
const child = fork(import.meta.filename, ['clients', url, String(clients)], {
  execArgv: ['--import', 'tsx'],
});
await new Promise((r) => child.once('message', r));
const t0 = Date.now();
let peak = 0;
let droppedAt = 0;
let ts = Date.UTC(2024, 0, 2, 15);
// perTick trades every 10 ms (default 200: ~20k trades/s), until the stuck clients are gone and 2 s more.
while (droppedAt === 0 || Date.now() - droppedAt < 2_000) {
  const trades: Trade[] = [];
  for (let i = 0; i < perTick; i++) {
    ts += 1;
    trades.push({
      symbol: i & 1 ? 'AAPL' : 'MSFT',
      ts,
      price: 100 + (i % 7),
      size: 10,
      conditions: '1,12',
      tradeId: String(ts),
      source: 'bench',
    });
  }
  hub.publish({ kind: 'trades', trades });
  await new Promise((r) => setTimeout(r, 10));
  peak = Math.max(peak, process.memoryUsage().rss);
  if (droppedAt === 0 && hub.clients <= clients / 2) droppedAt = Date.now();
  if (Date.now() - t0 > 120_000) break;
}
gc();
const after = process.memoryUsage().rss;
console.log(
  `${clients} clients (${clients / 2} never reading), ${perTick * 100} trades/s, heartbeat ${heartbeatMs} ms: RSS ${mb(before)} before, peak ${mb(peak)} (+${mb(peak - before)}, ${((peak - before) / (clients / 2) / 2 ** 20).toFixed(2)} MB per stuck client), ${mb(after)} after; stuck clients dropped ${droppedAt ? `${((droppedAt - t0) / 1000).toFixed(1)} s` : 'never (120 s)'} after they stopped reading`,
);
child.kill();
await app.close();
await hub.close();
await store.close();
