/**
 * The Finnhub source against a scripted WebSocket server on 127.0.0.1 that
 * misbehaves as real networks and servers do: it refuses the upgrade,
 * accepts and then closes at once, sends garbage among the trades, and goes
 * silent. The source must back off ever longer against a server that drops
 * every connection, never stop on garbage, and report silence as stale.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { FinnhubSource } from '../../src/sources/finnhub/finnhub-source.ts';
import type { LiveBatch, LiveEvent } from '../../src/sources/source.ts';
import { poisonMessages } from '../helpers/malformed.ts';

type Behaviour = 'refuse' | 'close' | 'silent' | ((ws: WebSocket) => void);

/** A server that treats the n-th connection as `script[n]` (the last entry repeats). */
async function scripted(script: Behaviour[]) {
  let n = 0;
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (_info, done) => {
      const b = script[Math.min(n, script.length - 1)];
      if (b === 'refuse') {
        n++;
        done(false, 503, 'Service Unavailable');
      } else done(true);
    },
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (ws) => {
    const b = script[Math.min(n++, script.length - 1)];
    if (b === 'close') ws.close(1011, 'going away');
    else if (typeof b === 'function') ws.once('message', () => b(ws));
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    get connections() {
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const source = (wsUrl: string, staleAfterMs = 60_000) =>
  new FinnhubSource({
    wsUrl,
    restUrl: 'http://127.0.0.1:9',
    token: 't',
    staleAfterMs,
    isOpen: () => true,
    gapFill: false,
    reconnectBaseMs: 20,
    reconnectMaxMs: 100_000,
  });

/** Reads the source until `done` holds over what it handed over, then stops it. */
async function readUntil(
  src: FinnhubSource,
  done: (events: LiveEvent[], batches: LiveBatch[]) => boolean,
): Promise<{ events: LiveEvent[]; batches: LiveBatch[] }> {
  const stop = new AbortController();
  const events: LiveEvent[] = [];
  const batches: LiveBatch[] = [];
  for await (const b of src.live(['AAPL'], { signal: stop.signal })) {
    events.push(...b.events);
    batches.push(b);
    if (done(events, batches)) stop.abort();
  }
  return { events, batches };
}

const T0 = Date.UTC(2024, 0, 2, 15);
const trade = (i: number) =>
  JSON.stringify({ type: 'trade', data: [{ s: 'AAPL', p: 100 + i, t: T0 + i, v: 1, c: ['1'] }] });

describe('Finnhub source against a misbehaving server', () => {
  it('backs off ever longer from a server that accepts and then closes every connection', async () => {
    const server = await scripted(['close']);
    cleanups.push(server.close);
    const { events } = await readUntil(
      source(server.url),
      (ev) => ev.filter((e) => e.kind === 'disconnected').length >= 7,
    );
    const waits = events.flatMap((e) =>
      e.kind === 'disconnected' && e.retryInMs !== undefined ? [e.retryInMs] : [],
    );
    expect(waits.length).toBeGreaterThanOrEqual(6);
    // Attempt k waits at least half of 20 ms · 2^(k−1): the backoff does not start over on open.
    waits.slice(0, 6).forEach((w, k) => {
      expect(w, `wait ${k + 1}`).toBeGreaterThanOrEqual(10 * 2 ** k);
    });
  });

  it('reconnects after refused upgrades, and keeps streaming through garbage, which is quarantined', async () => {
    const garbage = [
      'not json',
      '{"type":"trade","data":[{"s":"AAPL","p":',
      ...poisonMessages(T0 + 500),
      `{"type":"trade","data":[{"s":"AAPL","p":1e400,"t":${T0 + 600},"v":1}]}`,
      '\u0000\u0001\u0002',
      '\ufeff{"type":"ping"}',
      '{"type":"trade","data":[{"s":"AAPL\\u0000","p":1,"t":1,"v":1}]}',
    ];
    const server = await scripted([
      'refuse',
      'refuse',
      (ws) => {
        for (let i = 0; i < 10; i++) ws.send(trade(i));
        for (const g of garbage) ws.send(g);
        ws.send(Buffer.from([0xff, 0xfe, 0x00, 0x80]));
        for (let i = 10; i < 20; i++) ws.send(trade(i));
      },
    ]);
    cleanups.push(server.close);
    const { batches } = await readUntil(
      source(server.url),
      (_ev, bs) => bs.reduce((n, b) => n + b.trades.filter((t) => t.price < 200).length, 0) >= 20,
    );
    const trades = batches.flatMap((b) => b.trades);
    const rejects = batches.flatMap((b) => b.rejects);
    expect(
      trades.filter((t) => t.symbol === 'AAPL' && t.price >= 100 && t.price < 120),
    ).toHaveLength(20);
    // Every garbage message is quarantined at the parse stage or becomes a candidate trade
    // that the quality rules will reject (1e400 is Infinity, a NUL in the symbol): none is lost.
    expect(rejects.every((r) => r.stage === 'parse')).toBe(true);
    expect(rejects.length).toBeGreaterThanOrEqual(6);
    expect(server.connections).toBeGreaterThanOrEqual(3);
  });

  it('reports a connection that goes silent as stale while the market is open', async () => {
    const server = await scripted([(ws) => ws.send(trade(1))]);
    cleanups.push(server.close);
    const { events } = await readUntil(source(server.url, 200), (ev) =>
      ev.some((e) => e.kind === 'stale'),
    );
    const stale = events.find((e) => e.kind === 'stale');
    expect(stale && stale.kind === 'stale' && stale.silentMs).toBeGreaterThanOrEqual(200);
  });
});
