/**
 * Finnhub's trade WebSocket as a live source.
 *
 * Connects to `{wsUrl}?token=…`, subscribes each symbol, and hands over the
 * messages in batches as the consumer asks for them (the socket is paused
 * while too many wait: TCP pushes back on the server). A dropped connection
 * is retried with exponential backoff and jitter, then every symbol is
 * subscribed again; once a symbol's first trade after the reconnect arrives,
 * the whole minutes between its last trade before and that one are fetched
 * from the REST candle endpoint and handed over as `backfilled` 1m bars.
 * With the market open and no trade for `staleAfterMs`, a `stale` event is
 * reported (once per silence).
 */
import WebSocket from 'ws';
import { SourceError } from '../../core/errors.ts';
import { backoffMs, httpGet, type RetryPolicy, redactUrl } from '../http.ts';
import { emptyLiveBatch, type LiveBatch, type LiveSource } from '../source.ts';
import { parseCandles } from './finnhub-candles.ts';
import { parseFinnhubMessage } from './finnhub-messages.ts';

export interface FinnhubSourceOptions {
  wsUrl: string;
  restUrl: string;
  /** FINNHUB_TOKEN; never stored or printed. */
  token: string;
  staleAfterMs: number;
  /**
   * Whether any of these symbols' exchanges trades at `ts` (their trading
   * calendars): a silent feed is stale only then.
   */
  isOpen: (ts: number, symbols: readonly string[]) => boolean;
  gapFill: boolean;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  http?: RetryPolicy;
  /** Messages waiting before the socket is paused (default 50 000). */
  maxQueued?: number;
  /**
   * How long a connection must stay open before the reconnect backoff starts
   * over (default 30 s): a server that accepts and then drops every
   * connection is retried ever more slowly, not every half second.
   */
  healthyAfterMs?: number;
}

const MINUTE = 60_000;

function withToken(base: string, token: string): string {
  const u = new URL(base);
  if (token) u.searchParams.set('token', token);
  return u.toString();
}

export class FinnhubSource implements LiveSource {
  readonly name = 'finnhub';
  readonly #o: FinnhubSourceOptions;

  constructor(opts: FinnhubSourceOptions) {
    this.#o = opts;
  }

  async *live(
    symbols: readonly string[],
    opts: { signal?: AbortSignal } = {},
  ): AsyncGenerator<LiveBatch> {
    const o = this.#o;
    const signal = opts.signal;
    const maxQueued = o.maxQueued ?? 50_000;
    let queue: { text: string; receivedAt: number }[] = [];
    let extra = emptyLiveBatch();
    let wakeUp: (() => void) | null = null;
    const notify = (): void => {
      const w = wakeUp;
      wakeUp = null;
      w?.();
    };
    let ws: WebSocket | null = null;
    let paused = false;
    let attempt = 0;
    let openedAt = 0;
    let connections = 0;
    let reconnectTimer: NodeJS.Timeout | null = null;
    let lastTradeAt = Date.now();
    let staleReported = false;
    /** Newest trade ts per symbol, and the symbols whose gap is still to be filled. */
    const lastTs = new Map<string, number>();
    let gapFrom = new Map<string, number>();
    let fatal: SourceError | null = null;
    const fills = new Set<Promise<void>>();
    const fillStop = new AbortController();

    const connect = (): void => {
      if (signal?.aborted) return;
      const socket = new WebSocket(withToken(o.wsUrl, o.token));
      ws = socket;
      socket.on('open', () => {
        connections++;
        openedAt = Date.now();
        for (const symbol of symbols) socket.send(JSON.stringify({ type: 'subscribe', symbol }));
        extra.events.push({ kind: 'connected', at: Date.now(), attempt: connections });
        if (connections > 1 && o.gapFill) gapFrom = new Map(lastTs);
        lastTradeAt = Date.now();
        notify();
      });
      socket.on('message', (data: WebSocket.RawData) => {
        queue.push({ text: data.toString(), receivedAt: Date.now() });
        if (queue.length >= maxQueued && !paused) {
          paused = true;
          socket.pause();
        }
        notify();
      });
      socket.on('error', (err: Error) => {
        extra.events.push({ kind: 'error', at: Date.now(), message: err.message });
      });
      socket.on('unexpected-response', (_req, res) => {
        const status = res.statusCode ?? 0;
        if (status === 401 || status === 403) {
          // A refused token does not get better by retrying: stop with a clear error.
          fatal = new SourceError(
            `finnhub: the WebSocket refused the token (HTTP ${status}); check FINNHUB_TOKEN`,
            { provider: 'finnhub', status, retryable: false },
          );
          notify();
        }
        socket.terminate();
      });
      socket.on('close', (code: number, reason: Buffer) => {
        if (ws !== socket) return;
        ws = null;
        paused = false;
        extra.events.push({
          kind: 'disconnected',
          at: Date.now(),
          reason: `code ${code}${reason.length ? `: ${reason.toString()}` : ''}`,
        });
        if (signal?.aborted || fatal) {
          notify();
          return;
        }
        // The backoff starts over only after a connection that stayed up a while.
        if (openedAt > 0 && Date.now() - openedAt >= (o.healthyAfterMs ?? 30_000)) attempt = 0;
        openedAt = 0;
        attempt++;
        const wait = backoffMs(attempt, {
          baseDelayMs: o.reconnectBaseMs,
          maxDelayMs: o.reconnectMaxMs,
        });
        const last = extra.events[extra.events.length - 1];
        if (last?.kind === 'disconnected') last.retryInMs = wait;
        notify();
        reconnectTimer = setTimeout(connect, wait);
      });
    };

    const fillGap = (symbol: string, from: number, to: number): void => {
      const p = (async () => {
        const url = `${o.restUrl.replace(/\/$/, '')}/stock/candle?symbol=${encodeURIComponent(symbol)}&resolution=1&from=${Math.floor(from / 1000)}&to=${Math.floor(to / 1000)}`;
        try {
          const res = await httpGet(withToken(url, o.token), {
            provider: 'finnhub',
            symbol,
            ...(o.http ? { retry: o.http } : {}),
            // Not the stop signal: a fill in flight at shutdown still completes (up to 5 s).
            signal: fillStop.signal,
          });
          const receivedAt = Date.now();
          extra.raw.push({
            source: 'finnhub-candle',
            request: redactUrl(res.url),
            receivedAt,
            status: res.status,
            body: res.body,
          });
          if (res.status !== 200 && !res.body.trimStart().startsWith('{')) {
            throw new SourceError(`finnhub: candles for ${symbol}: HTTP ${res.status}`, {
              provider: 'finnhub',
              status: res.status,
              retryable: false,
              symbol,
            });
          }
          const got = parseCandles(res.body, symbol, { from, to, now: receivedAt }, receivedAt);
          extra.bars.push(...got.bars);
          extra.rejects.push(...got.rejects);
          extra.events.push({
            kind: 'gap_filled',
            at: receivedAt,
            symbol,
            from,
            to,
            bars: got.bars.length,
          });
        } catch (err) {
          extra.events.push({
            kind: 'error',
            at: Date.now(),
            message: `gap fill for ${symbol}: ${(err as Error).message}`,
          });
        }
        notify();
      })();
      fills.add(p);
      void p.finally(() => fills.delete(p));
    };

    const staleCheck = setInterval(
      () => {
        const now = Date.now();
        const open = o.isOpen(now, symbols);
        if (ws && open && !staleReported && now - lastTradeAt > o.staleAfterMs) {
          staleReported = true;
          extra.events.push({ kind: 'stale', at: now, silentMs: now - lastTradeAt });
          notify();
        }
      },
      Math.max(10, Math.min(1_000, o.staleAfterMs / 4)),
    );
    const onAbort = (): void => {
      ws?.close(1000, 'tickline stopping');
      notify();
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    /** Parses what is queued into one batch (and starts the gap fills the trades reveal). */
    const take = (): LiveBatch => {
      const batch = extra;
      extra = emptyLiveBatch();
      const msgs = queue;
      queue = [];
      for (const m of msgs) {
        batch.messages.push(m);
        const from = batch.trades.length;
        parseFinnhubMessage(m.text, m.receivedAt, this.name, batch);
        for (let i = from; i < batch.trades.length; i++) {
          const t = batch.trades[i]!;
          lastTradeAt = m.receivedAt;
          staleReported = false;
          const gapStart = gapFrom.get(t.symbol);
          if (gapStart !== undefined && Number.isFinite(t.ts)) {
            gapFrom.delete(t.symbol);
            // Whole minutes strictly between the last trade before and the first after.
            const lo = (Math.floor(gapStart / MINUTE) + 1) * MINUTE;
            const hi = Math.floor(t.ts / MINUTE) * MINUTE;
            if (hi > lo) fillGap(t.symbol, lo, hi);
          }
          if (Number.isFinite(t.ts) && t.ts > (lastTs.get(t.symbol) ?? -Infinity)) {
            lastTs.set(t.symbol, t.ts);
          }
        }
      }
      if (paused && ws) {
        paused = false;
        ws.resume();
      }
      return batch;
    };
    const hasWork = (): boolean =>
      queue.length > 0 ||
      extra.events.length > 0 ||
      extra.bars.length > 0 ||
      extra.rejects.length > 0 ||
      extra.raw.length > 0;

    connect();
    try {
      while (!signal?.aborted) {
        if (fatal) throw fatal;
        if (hasWork()) {
          yield take();
          continue;
        }
        await new Promise<void>((resolve) => {
          wakeUp = resolve;
        });
      }
      // Stopping: the close handshake lets every message the server sent before it arrive, and
      // what arrived is still handed over.
      const closing = ws as WebSocket | null;
      if (closing) {
        if (paused) closing.resume();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 2_000);
          closing.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      const giveUp = setTimeout(() => fillStop.abort(), 5_000);
      await Promise.allSettled([...fills]);
      clearTimeout(giveUp);
      if (hasWork()) yield take();
    } finally {
      signal?.removeEventListener('abort', onAbort);
      clearInterval(staleCheck);
      if (reconnectTimer) clearTimeout(reconnectTimer);
      const socket = ws as WebSocket | null;
      socket?.terminate();
    }
  }
}
