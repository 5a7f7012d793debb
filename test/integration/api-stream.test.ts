/**
 * WebSocket /api/stream on a real server: subscriptions, resume, errors,
 * auth, conflation for a slow reader, and a client too slow to keep that is
 * dropped while ingest goes on.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { newApiKey } from '../../src/api/auth.ts';
import { createServer } from '../../src/api/server.ts';
import { StreamHub } from '../../src/api/stream-hub.ts';
import { loadConfig } from '../../src/core/config.ts';
import type { Bar } from '../../src/core/records.ts';
import { MemoryLog } from '../../src/log/memory/memory-log.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { StreamPipeline } from '../../src/pipelines/stream.ts';
import { simulate } from '../../src/sources/simulator/simulator.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { tempDir } from '../helpers/db.ts';
import { LIVE_DEFAULTS, messageSource } from '../helpers/live.ts';

const cfg = loadConfig({ cwd: '/', env: {} });
const cleanups: (() => Promise<void>)[] = [];
/** Every client a test opened: ended first, so a failed test never leaves the server waiting. */
const opened: WebSocket[] = [];
afterEach(async () => {
  for (const ws of opened.splice(0)) {
    // One still connecting reports its end as an error: expected here.
    ws.on('error', () => undefined);
    ws.terminate();
  }
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => undefined);

interface Setup {
  store: Store;
  hub: StreamHub;
  url: string;
}

async function setup(
  o: {
    requireKeyForReads?: boolean;
    maxQueuedBytes?: number;
    highWaterBytes?: number;
    heartbeatMs?: number;
  } = {},
): Promise<Setup> {
  const store = await openStoreAt(join(tempDir(), 's.duckdb'));
  const hub = new StreamHub({
    store,
    maxQueuedBytes: o.maxQueuedBytes ?? 1 << 20,
    highWaterBytes: o.highWaterBytes ?? 64 << 10,
    ...(o.heartbeatMs ? { heartbeatMs: o.heartbeatMs } : {}),
  });
  const app: FastifyInstance = await createServer({
    store,
    cfg,
    metrics: new Metrics(),
    requireKeyForReads: o.requireKeyForReads ?? false,
    hub,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  cleanups.push(async () => {
    await app.close();
    await store.close();
  });
  return {
    store,
    hub,
    url: `ws://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/api/stream`,
  };
}

function session(n: number, seed = 4): string[] {
  const gen = simulate({
    symbols: ['AAPL', 'MSFT'],
    seed,
    tradesPerSecond: 40,
    startTs: Date.UTC(2024, 6, 1, 14),
  });
  return Array.from({ length: n }, () => gen.next().value!.text);
}

async function run(s: Setup, messages: string[]) {
  const log = new MemoryLog();
  const p = new StreamPipeline({
    source: messageSource(messages),
    symbols: ['AAPL', 'MSFT'],
    store: s.store,
    log,
    live: LIVE_DEFAULTS,
    futureSkewMs: 60_000,
    onEvent: (e) => s.hub.publish(e),
  });
  const stats = await p.run();
  await log.close();
  return { stats };
}

// biome-ignore lint/suspicious/noExplicitAny: messages are checked field by field
type Msg = any;

async function connect(url: string, subscribe: object): Promise<{ ws: WebSocket; got: Msg[] }> {
  const ws = new WebSocket(url);
  opened.push(ws);
  const got: Msg[] = [];
  // Every frame is a JSON array of messages.
  ws.on('message', (d, isBinary) => {
    // Text frames (a browser reads a binary one as a Blob, not a string).
    expect(isBinary).toBe(false);
    const frame = JSON.parse(d.toString());
    expect(Array.isArray(frame)).toBe(true);
    got.push(...frame);
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(JSON.stringify(subscribe));
  // Subscribed (or refused) before anything is published for it, however loaded the machine.
  await waitFor(
    () => got.some((m) => m.type === 'subscribed' || m.type === 'error'),
    'the answer to a subscribe',
  );
  return { ws, got };
}

/**
 * Resolves once `pred` holds (polled every 10 ms). No time limit of its own:
 * a loaded machine may take long, and the test's timeout names the test.
 */
let waitingFor = '';
async function waitFor(pred: () => boolean | Promise<boolean>, what: string): Promise<void> {
  waitingFor = what;
  while (!(await pred())) await new Promise((r) => setTimeout(r, 10));
  waitingFor = '';
}
afterEach((ctx) => {
  if (waitingFor && ctx.task.result?.state === 'fail')
    console.error(`was waiting for ${waitingFor}`);
});

describe('WebSocket /api/stream', () => {
  it('sends subscribed symbols’ trades and bars: updates, closes and finals with indicators', async () => {
    const s = await setup();
    const { ws, got } = await connect(s.url, {
      type: 'subscribe',
      symbols: ['aapl'],
      intervals: ['1s'],
      trades: true,
    });
    expect(got[0]).toEqual({
      type: 'subscribed',
      symbols: ['AAPL'],
      intervals: ['1s'],
      trades: true,
      pipelines: false,
    });
    const { stats } = await run(s, session(1_500));
    const stored = await s.store.readTrades({ symbol: 'AAPL' });
    const storedBars = await s.store.readBars({ symbol: 'AAPL', interval: '1s' });
    const finalsGot = () => got.filter((m) => m.type === 'bar' && m.kind === 'final').length;
    await waitFor(
      () =>
        got.filter((m) => m.type === 'trade').length >= stored.length &&
        finalsGot() >= storedBars.length,
      'every stored trade and final bar to reach the client',
    );
    const trades = got.filter((m) => m.type === 'trade');
    expect(trades.length).toBe(stored.length);
    expect(trades.every((m) => m.trade.symbol === 'AAPL')).toBe(true);
    const bars = got.filter((m) => m.type === 'bar');
    expect(bars.every((m) => m.bar.symbol === 'AAPL' && m.bar.interval === '1s')).toBe(true);
    const finals = bars.filter((m) => m.kind === 'final');
    expect(finals.map((m) => m.bar.ts)).toEqual(storedBars.map((b) => b.ts));
    expect(finals.at(-1).indicators).toHaveProperty('sma_20');
    // Forming-bar updates are conflated per flush (100 ms) and superseded by the bar's close;
    // a session replayed this fast can leave none. The conflation test below shows them.
    expect(stats.barsFinal).toBeGreaterThan(finals.length);
    ws.close();
  });

  it('resumes from the last final bar a client saw', async () => {
    const s = await setup();
    await run(s, session(800));
    const stored: Bar[] = await s.store.readBars({ symbol: 'MSFT', interval: '1s' });
    const seen = stored[9]!.ts;
    const { ws, got } = await connect(s.url, {
      type: 'subscribe',
      symbols: ['MSFT'],
      intervals: ['1s'],
      resume: [{ symbol: 'MSFT', interval: '1s', after: seen }],
    });
    await waitFor(
      () => got.filter((m) => m.type === 'bar' && m.replay).length >= stored.length - 10,
      'the resumed bars',
    );
    const replay = got.filter((m) => m.type === 'bar' && m.replay);
    expect(replay.map((m) => m.bar.ts)).toEqual(stored.slice(10).map((b) => b.ts));
    ws.close();
  });

  it('answers a bad subscription with an error naming the field', async () => {
    const s = await setup();
    const { ws, got } = await connect(s.url, {
      type: 'subscribe',
      symbols: ['AAPL'],
      intervals: ['2s'],
    });
    expect(got[0].type).toBe('error');
    expect(got[0].message).toMatch(/^intervals\.0: /);
    ws.send('not json');
    await waitFor(() => got.length >= 2, 'the answer to a message that is not JSON');
    expect(got.at(-1)).toEqual({ type: 'error', message: 'messages must be JSON' });
    ws.close();
  });

  it('needs a key off loopback (401 on upgrade), given as a header or ?key=', async () => {
    const s = await setup({ requireKeyForReads: true });
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(s.url);
      opened.push(ws);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
    });
    expect(status).toBe(401);
    const { key, record } = newApiKey('read', 'ws');
    await s.store.capability('keys').putApiKey(record);
    const { ws, got } = await connect(`${s.url}?key=${key}`, {
      type: 'subscribe',
      symbols: ['AAPL'],
    });
    expect(got[0].type).toBe('subscribed');
    ws.close();
  });

  it('conflates forming-bar updates for a client that reads slowly, keeping the newest', async () => {
    const s = await setup({ maxQueuedBytes: 256 << 20 });
    const { ws, got } = await connect(s.url, {
      type: 'subscribe',
      symbols: ['AAPL'],
      intervals: ['1m'],
    });
    const sock = (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    sock.pause();
    const bar = (ts: number, close: number): Bar => ({
      symbol: 'AAPL',
      interval: '1m',
      ts,
      open: 100,
      high: 200,
      low: 50,
      close,
      volume: close,
      adjClose: null,
      source: 'test',
      vwap: 100,
      tradeCount: close,
    });
    // Enough closed bars to fill the socket's buffers, so the client is behind…
    const T = Date.UTC(2024, 0, 2, 15);
    const N = 60_000;
    for (let i = 0; i < N; i++)
      s.hub.publish({ kind: 'close', bar: bar(T - (N - i) * 60_000, 100) });
    // …then 200 changes of the forming bar while it is.
    for (let i = 1; i <= 200; i++) s.hub.publish({ kind: 'update', bar: bar(T, 100 + i) });
    sock.resume();
    await waitFor(() => got.filter((m) => m.kind === 'close').length >= N, 'every close');
    // The conflated update goes out after the closes it was queued behind.
    await waitFor(() => got.at(-1)?.kind === 'update', 'the newest forming bar');
    expect(got.filter((m) => m.kind === 'close').length).toBe(N);
    const updates = got.filter((m) => m.kind === 'update');
    expect(updates.length).toBeGreaterThan(0);
    expect(updates.length).toBeLessThan(10);
    expect(updates.at(-1).bar.close).toBe(300);
    ws.close();
  });

  it('serves clients with one subscription as one group, a slow one on its own, all in order', async () => {
    const s = await setup({ maxQueuedBytes: 256 << 20 });
    const same = { type: 'subscribe', symbols: ['AAPL'], intervals: ['1m'] };
    const fast = await Promise.all(Array.from({ length: 20 }, () => connect(s.url, same)));
    const other = await connect(s.url, { ...same, symbols: ['MSFT'] });
    const slow = await connect(s.url, same);
    // New clients join their shared group at the first flush with nothing pending for them.
    await waitFor(
      () => s.hub.groups.shared === 2 && s.hub.groups.own === 0,
      'the clients to join their groups',
    );
    expect(s.hub.groups).toEqual({ shared: 2, own: 0 });
    const sock = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    sock.pause();
    const T = Date.UTC(2024, 0, 2, 15);
    const bar = (i: number, symbol = 'AAPL'): Bar => ({
      symbol,
      interval: '1m',
      ts: T + i * 60_000,
      open: 100,
      high: 101,
      low: 99,
      close: 100 + i / 1000,
      volume: i,
      adjClose: null,
      source: 'test',
    });
    // Closes over several flushes, more than the socket buffers hold: the paused client falls
    // behind and goes on its own.
    const N = 60_000;
    const closes = (got: Msg[]) => got.filter((m) => m.kind === 'close').map((m) => m.bar.volume);
    for (let i = 0; i < N; i++) {
      s.hub.publish({ kind: 'close', bar: bar(i) });
      // A flush between runs of 10,000: the readers have them before the next run.
      if (i % 10_000 === 9_999) {
        await waitFor(() => fast.every((c) => closes(c.got).length > i), 'a flush to the readers');
      }
    }
    s.hub.publish({ kind: 'close', bar: bar(0, 'MSFT') });
    await waitFor(
      () => closes(other.got).length >= 1 && fast.every((c) => closes(c.got).length >= N),
      'the last closes to the readers',
    );
    expect(s.hub.groups.own).toBe(1);
    const all = Array.from({ length: N }, (_, i) => i);
    for (const c of fast) expect(closes(c.got)).toEqual(all);
    expect(closes(other.got)).toEqual([0]);
    // Once it reads again it gets every close, in order, and rejoins the others.
    sock.resume();
    await waitFor(() => closes(slow.got).length >= N, 'the slow client to catch up');
    expect(closes(slow.got)).toEqual(all);
    await waitFor(() => s.hub.groups.own === 0, 'the slow client to rejoin its group');
    expect(s.hub.groups).toEqual({ shared: 2, own: 0 });
    s.hub.publish({ kind: 'close', bar: bar(N) });
    await waitFor(
      () => closes(slow.got).length > N && closes(fast[0]!.got).length > N,
      'the next close to every client',
    );
    expect(closes(slow.got).at(-1)).toBe(N);
    expect(closes(fast[0]!.got).at(-1)).toBe(N);
    for (const c of [...fast, other, slow]) c.ws.close();
  }, 300_000);

  it('drops a client that stops reading, with a reason, while ingest goes on', async () => {
    const gen = simulate({
      symbols: ['AAPL', 'MSFT'],
      seed: 8,
      tradesPerSecond: 400,
      tradesPerMessage: 4,
      startTs: Date.UTC(2024, 6, 1, 14),
    });
    const messages = Array.from({ length: 15_000 }, () => gen.next().value!.text);
    // Ingest with no client, then with one that never reads: the run must not wait for it.
    const alone = await run(await setup(), messages);
    const s = await setup({ maxQueuedBytes: 256 * 1024 });
    const stuck = new WebSocket(s.url);
    opened.push(stuck);
    await new Promise((r) => stuck.once('open', r));
    stuck.send(
      JSON.stringify({
        type: 'subscribe',
        symbols: ['AAPL', 'MSFT'],
        intervals: ['1s', '1m', '5m'],
        trades: true,
      }),
    );
    await waitFor(() => s.hub.groups.shared === 1, 'the stuck client to join its group');
    (stuck as unknown as { _socket: { pause(): void } })._socket.pause();
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      stuck.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    const withSlow = await run(s, messages);
    expect(withSlow.stats.store.tradesStored).toBe(alone.stats.store.tradesStored);
    expect(s.hub.clients).toBe(0);
    (stuck as unknown as { _socket: { resume(): void } })._socket.resume();
    const c = await closed;
    expect([4008, 1006]).toContain(c.code);
    if (c.code === 4008) expect(c.reason).toMatch(/too slow/);
  });

  it('closes a client that stops reading at the next heartbeat it does not answer, and keeps one that reads', async () => {
    const s = await setup({ heartbeatMs: 200 });
    const open = async () => {
      const ws = new WebSocket(s.url);
      opened.push(ws);
      await new Promise((r) => ws.once('open', r));
      return ws;
    };
    const reader = await open();
    const stuck = await open();
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      stuck.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    let readerPings = 0;
    reader.on('ping', () => readerPings++);
    (stuck as unknown as { _socket: { pause(): void } })._socket.pause();
    while (s.hub.clients > 1) await new Promise((r) => setTimeout(r, 20));
    (stuck as unknown as { _socket: { resume(): void } })._socket.resume();
    const c = await closed;
    expect([4008, 1006]).toContain(c.code);
    if (c.code === 4008) expect(c.reason).toMatch(/not reading: no answer to a ping/);
    // The reading client answered every ping and is still there, several heartbeats on.
    while (readerPings < 4) await new Promise((r) => setTimeout(r, 20));
    expect(s.hub.clients).toBe(1);
    expect(reader.readyState).toBe(reader.OPEN);
    reader.close();
  });
});
