/**
 * The Finnhub WebSocket source against a local server replaying recorded
 * messages (test/fixtures/finnhub, real messages quoted in Finnhub's public
 * issues) and a larger synthetic session in the same format, with forced
 * disconnects; the REST candle endpoint (the real SPXL response) fills the
 * gap a disconnect leaves.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Bar } from '../../src/core/records.ts';
import type { StreamEvent } from '../../src/pipelines/stream.ts';
import {
  FinnhubSource,
  type FinnhubSourceOptions,
} from '../../src/sources/finnhub/finnhub-source.ts';
import { simulate } from '../../src/sources/simulator/simulator.ts';
import { openStoreAt } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { diffBars, referenceBars, runToEnd, tradesIn } from '../helpers/live.ts';
import { fixture, startReplayServer } from '../helpers/replay-server.ts';
import { type FinnhubServer, startFinnhubServer } from '../helpers/ws-server.ts';

const lines = (name: string): string[] =>
  fixture(name)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function source(wsUrl: string, extra: Partial<FinnhubSourceOptions> = {}): FinnhubSource {
  return new FinnhubSource({
    wsUrl,
    restUrl: 'http://127.0.0.1:9',
    token: 'test-token',
    staleAfterMs: 60_000,
    isOpen: () => true,
    gapFill: false,
    reconnectBaseMs: 20,
    reconnectMaxMs: 200,
    http: { attempts: 2, baseDelayMs: 10, maxDelayMs: 50, timeoutMs: 5_000 },
    ...extra,
  });
}

/**
 * Runs the pipeline on the source until the server has sent its whole session and `waitFor`
 * holds, then stops it. `waitFor` is checked then and at every event the pipeline tells after
 * (a gap fill's request is followed by its gap_filled or error event).
 */
async function streamAll(
  store: Store,
  src: FinnhubSource,
  server: FinnhubServer,
  symbols: string[],
  waitFor: () => boolean = () => true,
) {
  const stop = new AbortController();
  const events: StreamEvent[] = [];
  let sent = false;
  let check: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    check = () => {
      if (sent && waitFor()) resolve();
    };
  });
  const run = runToEnd(store, src, symbols, {
    signal: stop.signal,
    onEvent: (e) => {
      events.push(e);
      check();
    },
  });
  await server.allSent;
  sent = true;
  check();
  await ready;
  stop.abort();
  const stats = await run;
  return {
    stats,
    events,
    sourceEvents: events.flatMap((e) => (e.kind === 'source' ? [e.event] : [])),
  };
}

async function storedBars(store: Store, symbols: string[]): Promise<Bar[]> {
  const out: Bar[] = [];
  for (const symbol of symbols) {
    for (const interval of ['1s', '1m', '5m'] as const) {
      out.push(...(await store.readBars({ symbol, interval })));
    }
  }
  return out;
}

describe('finnhub source', () => {
  it('turns the recorded AAPL session (with pings, triple delivery and a dropped connection) into the reference trades and bars', async () => {
    const trades = lines('finnhub/ws-trades-AAPL-2020-04-14.jsonl');
    const pings = lines('finnhub/ws-ping.jsonl');
    // Pings between the trade messages, as the feed sends them.
    const session = trades.flatMap((t, i) => (i % 2 ? [t, pings[i % pings.length]!] : [t]));
    const server = await startFinnhubServer({ session, dropAfter: [5], burst: 1 });
    cleanups.push(() => server.close());
    const store = await openStoreAt(':memory:');
    cleanups.push(() => store.close());
    const { stats, sourceEvents } = await streamAll(store, source(server.url), server, ['AAPL']);

    const want = tradesIn(trades);
    expect(want.length).toBe(3);
    expect(await store.readTrades({ symbol: 'AAPL' })).toEqual(want);
    expect(stats.duplicates).toBe(6);
    expect(
      diffBars(
        await storedBars(store, ['AAPL']),
        referenceBars(want, ['1s', '1m', '5m'], 'finnhub'),
      ),
    ).toEqual([]);
    // Connected twice, subscribed on each connection, with the token in the URL.
    expect(server.tokens).toEqual(['test-token', 'test-token']);
    expect(server.received).toEqual([
      ['{"type":"subscribe","symbol":"AAPL"}'],
      ['{"type":"subscribe","symbol":"AAPL"}'],
    ]);
    expect(sourceEvents.filter((e) => e.kind === 'connected').length).toBe(2);
    expect(sourceEvents.some((e) => e.kind === 'disconnected')).toBe(true);
  });

  it('gives the reference result for a long session cut three times mid-stream', async () => {
    const symbols = ['AAPL', 'MSFT', 'TSLA'];
    // Synthetic (seeded simulator), in Finnhub's message format.
    const gen = simulate({
      symbols,
      seed: 5,
      tradesPerSecond: 500,
      tradesPerMessage: 4,
      startTs: Date.UTC(2024, 2, 5, 15),
    });
    const session = Array.from({ length: 3_000 }, () => gen.next().value!.text);
    const server = await startFinnhubServer({
      session,
      dropAfter: [700, 1_500, 2_222],
      expectSubscriptions: 3,
    });
    cleanups.push(() => server.close());
    const store = await openStoreAt(':memory:');
    cleanups.push(() => store.close());
    const { stats } = await streamAll(store, source(server.url), server, symbols);
    const want = tradesIn(session);
    expect(stats.tradesValid).toBe(want.length);
    const got = [];
    for (const s of symbols) got.push(...(await store.readTrades({ symbol: s })));
    expect(got).toEqual(want);
    expect(
      diffBars(
        await storedBars(store, symbols),
        referenceBars(want, ['1s', '1m', '5m'], 'finnhub'),
      ),
    ).toEqual([]);
    expect(server.received.length).toBe(4);
    for (const subs of server.received) expect(subs.length).toBe(3);
  });

  it('fills the gap after a reconnect with the REST candles, marked backfilled', async () => {
    // Synthetic SPXL trades around the real candle response (2020-04-20 19:55..20:05 UTC).
    const at = (h: number, m: number, s: number) => Date.UTC(2020, 3, 20, h, m, s);
    const msg = (t: number, p: number) =>
      JSON.stringify({ data: [{ s: 'SPXL', p, t, v: 100 }], type: 'trade' });
    const before = Array.from({ length: 30 }, (_, i) => msg(at(19, 54, 2 * i), 34.4 + i / 1000));
    const after = Array.from({ length: 30 }, (_, i) => msg(at(20, 6, i), 34.37 + i / 1000));
    const server = await startFinnhubServer({
      session: [...before, ...after],
      dropAfter: [30],
      burst: 10,
    });
    cleanups.push(() => server.close());
    const rest = await startReplayServer((url) =>
      url.pathname === '/api/v1/stock/candle'
        ? [{ body: fixture('finnhub/candle-SPXL-1m-2020-04-20.json') }]
        : undefined,
    );
    cleanups.push(() => rest.close());
    const store = await openStoreAt(':memory:');
    cleanups.push(() => store.close());
    const { sourceEvents } = await streamAll(
      store,
      source(server.url, { restUrl: `${rest.url}/api/v1`, gapFill: true }),
      server,
      ['SPXL'],
      () => rest.requests.length > 0,
    );
    expect(rest.requests).toEqual([
      `/api/v1/stock/candle?symbol=SPXL&resolution=1&from=${at(19, 55, 0) / 1000}&to=${at(20, 6, 0) / 1000}&token=test-token`,
    ]);
    const bars = await store.readBars({ symbol: 'SPXL', interval: '1m' });
    expect(
      bars.map((b) => [new Date(b.ts).toISOString().slice(11, 16), b.backfilled ?? false]),
    ).toEqual([
      ['19:54', false],
      ...[
        '19:55',
        '19:56',
        '19:57',
        '19:58',
        '19:59',
        '20:00',
        '20:01',
        '20:02',
        '20:03',
        '20:04',
        '20:05',
      ].map((t) => [t, true]),
      ['20:06', false],
    ]);
    const candle = JSON.parse(fixture('finnhub/candle-SPXL-1m-2020-04-20.json'));
    const filled = bars.filter((b) => b.backfilled);
    expect(
      filled.map((b) => [b.ts / 1000, b.open, b.high, b.low, b.close, b.volume, b.source]),
    ).toEqual(
      candle.t.map((t: number, i: number) => [
        t,
        candle.o[i],
        candle.h[i],
        candle.l[i],
        candle.c[i],
        candle.v[i],
        'finnhub-candle',
      ]),
    );
    expect(sourceEvents).toContainEqual(
      expect.objectContaining({ kind: 'gap_filled', symbol: 'SPXL', bars: 11 }),
    );
    const raw = await store.capability('sql').sql(`SELECT source, request FROM raw_responses`);
    expect(raw.rows).toEqual([
      { source: 'finnhub-candle', request: expect.stringContaining('token=REDACTED') },
    ]);
  });

  it('keeps streaming through a candle error, an error message and a malformed message', async () => {
    const at = (m: number, s: number) => Date.UTC(2024, 1, 28, 15, m, s);
    const msg = (t: number) =>
      JSON.stringify({ data: [{ s: 'MSFT', p: 407.5, t, v: 10 }], type: 'trade' });
    const session = [
      msg(at(0, 1)),
      msg(at(0, 2)),
      '{"type":"error","msg":"Subscribing to too many symbols"}',
      '{"data":[{"s":"MSFT","p":407.5,',
      msg(at(3, 1)),
      msg(at(3, 2)),
    ];
    const server = await startFinnhubServer({ session, dropAfter: [2], burst: 1 });
    cleanups.push(() => server.close());
    const rest = await startReplayServer(() => [
      { status: 403, body: fixture('finnhub/candle-error-no-access.json') },
    ]);
    cleanups.push(() => rest.close());
    const store = await openStoreAt(':memory:');
    cleanups.push(() => store.close());
    const { sourceEvents } = await streamAll(
      store,
      source(server.url, { restUrl: rest.url, gapFill: true }),
      server,
      ['MSFT'],
      () => rest.requests.length > 0,
    );
    await expect
      .poll(async () => (await store.readTrades({ symbol: 'MSFT' })).length, { timeout: 10_000 })
      .toBe(4);
    const errors = sourceEvents.flatMap((e) => (e.kind === 'error' ? [e.message] : []));
    expect(errors).toContain('Subscribing to too many symbols');
    expect(
      errors.some((m) =>
        m.includes("gap fill for MSFT: finnhub: candles for MSFT: You don't have access"),
      ),
    ).toBe(true);
    const q = await store.capability('quarantine').readQuarantine({});
    expect(q.map((r) => [r.stage, r.rule, r.payload])).toEqual([
      ['parse', 'malformed_message', '{"data":[{"s":"MSFT","p":407.5,'],
    ]);
  });

  it('stops with a clear error when the socket refuses the token, storing what came before', async () => {
    const server = await startFinnhubServer({ session: [], refuseToken: 'bad-token' });
    cleanups.push(() => server.close());
    const store = await openStoreAt(':memory:');
    cleanups.push(() => store.close());
    await expect(
      runToEnd(store, source(server.url, { token: 'bad-token' }), ['AAPL']),
    ).rejects.toThrow('finnhub: the WebSocket refused the token (HTTP 401); check FINNHUB_TOKEN');
    // It stops at the first refusal: a refused token is not retried as a network error would be.
    expect(server.refused).toBe(1);
  });

  it('reports a stale feed while the market is open', async () => {
    const server = await startFinnhubServer({ session: [], expectSubscriptions: 99 });
    cleanups.push(() => server.close());
    const src = source(server.url, { staleAfterMs: 150 });
    const stop = new AbortController();
    const seen: string[] = [];
    const it = src.live(['AAPL'], { signal: stop.signal });
    for await (const b of it) {
      seen.push(...b.events.map((e) => e.kind));
      if (seen.includes('stale')) break;
    }
    stop.abort();
    expect(seen).toEqual(['connected', 'stale']);
  });
});
