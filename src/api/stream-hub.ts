/**
 * WebSocket `/api/stream`: live trades and bars to subscribed clients.
 *
 * Client → server (JSON text):
 *   {"type":"subscribe","symbols":["AAPL"],"intervals":["1s","1m"],"trades":true,
 *    "resume":[{"symbol":"AAPL","interval":"1m","after":1717423200000}]}
 *   {"type":"unsubscribe","symbols":["AAPL"]}
 * Server → client: every frame is a JSON array of messages, in order:
 *   {"type":"subscribed",…}  {"type":"trade","trade":{…}}
 *   {"type":"bar","kind":"update"|"close"|"correction"|"final","bar":{…},"indicators"?:{…}}
 *   {"type":"error","message":…}
 *
 * Publishing never waits for a client and never writes to a socket: it only
 * queues (strings built once per event, shared by every client). Every
 * `flushMs` one frame per client carries what queued up, with forming-bar
 * updates conflated to the newest per symbol and interval. A client that
 * reads slowly keeps getting conflated updates; one that falls further
 * behind than `maxQueuedBytes` is closed with code 4008 and a reason.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import type { Bar, Trade } from '../core/records.ts';
import { INTERVALS } from '../core/time.ts';
import type { StreamEvent } from '../pipelines/stream.ts';
import type { Store } from '../store/store.ts';

const SubscribeSchema = z
  .object({
    type: z.enum(['subscribe', 'unsubscribe']),
    symbols: z.array(z.string().min(1).max(32)).min(1).max(500),
    intervals: z.array(z.enum(INTERVALS)).max(INTERVALS.length).optional(),
    trades: z.boolean().optional(),
    resume: z
      .array(z.object({ symbol: z.string(), interval: z.enum(INTERVALS), after: z.number().int() }))
      .max(500)
      .optional(),
  })
  .strict();

export interface StreamHubOptions {
  store: Store;
  /** Bytes a client may have waiting (ours plus the socket's) before it is dropped (default 1 MiB). */
  maxQueuedBytes?: number;
  /** The socket buffer above which we hold messages back and conflate (default 64 KiB). */
  highWaterBytes?: number;
  /** How often queued messages go out, one frame per client (default 100 ms). */
  flushMs?: number;
  onClients?: (n: number) => void;
}

interface Client {
  ws: WebSocket;
  symbols: Set<string>;
  intervals: Set<string>;
  trades: boolean;
  /** In-order messages (trades, closes, corrections, finals). */
  queue: string[];
  queuedBytes: number;
  /** The newest forming-bar update per symbol+interval (conflated), with its bar's ts. */
  updates: Map<string, { ts: number; text: string }>;
  /** Messages conflated away, for the client's information. */
  conflated: number;
}

const tradeOut = (t: Trade) => ({
  symbol: t.symbol,
  ts: t.ts,
  price: t.price,
  size: t.size,
  conditions: t.conditions,
  tradeId: t.tradeId,
});

export class StreamHub {
  readonly #o: Required<Omit<StreamHubOptions, 'onClients'>> & Pick<StreamHubOptions, 'onClients'>;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  readonly #clients = new Set<Client>();
  /** Clients with something queued since the last flush. */
  readonly #dirty = new Set<Client>();
  readonly #timer: NodeJS.Timeout;

  constructor(opts: StreamHubOptions) {
    this.#o = {
      store: opts.store,
      maxQueuedBytes: opts.maxQueuedBytes ?? 1024 * 1024,
      highWaterBytes: opts.highWaterBytes ?? 64 * 1024,
      flushMs: opts.flushMs ?? 100,
      onClients: opts.onClients,
    };
    this.#wss.on('connection', (ws) => this.#join(ws));
    this.#timer = setInterval(() => this.#flush(), this.#o.flushMs);
    this.#timer.unref();
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** Takes over an HTTP upgrade that was already authorized. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#wss.emit('connection', ws, req));
  }

  /** Fans an event of the live path out; synchronous and bounded per client. */
  publish(e: StreamEvent): void {
    if (this.#clients.size === 0 || e.kind === 'source') return;
    if (e.kind === 'trades') {
      for (const c of this.#clients) {
        if (!c.trades) continue;
        for (const t of e.trades) {
          if (c.symbols.has(t.symbol))
            this.#enqueue(c, JSON.stringify({ type: 'trade', trade: tradeOut(t) }));
        }
      }
      return;
    }
    let text: string | null = null;
    const b = e.bar;
    for (const c of this.#clients) {
      if (!c.symbols.has(b.symbol) || !c.intervals.has(b.interval)) continue;
      text ??= JSON.stringify({
        type: 'bar',
        kind: e.kind,
        bar: b,
        ...(e.kind === 'final' && e.indicators ? { indicators: nanToNull(e.indicators) } : {}),
      });
      const key = `${b.symbol}\u0000${b.interval}`;
      if (e.kind === 'update') {
        if (c.updates.has(key)) c.conflated++;
        c.updates.set(key, { ts: b.ts, text });
        this.#dirty.add(c);
      } else {
        // A close, correction or final supersedes a pending update of the same bar.
        if (c.updates.get(key)?.ts === b.ts) c.updates.delete(key);
        this.#enqueue(c, text);
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    const sockets = [...this.#wss.clients];
    for (const ws of sockets) ws.close(1001, 'server shutting down');
    // A client that does not answer the close handshake is cut off.
    const t0 = Date.now();
    while (sockets.some((ws) => ws.readyState !== ws.CLOSED) && Date.now() - t0 < 1_000) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const ws of sockets) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #join(ws: WebSocket): void {
    const c: Client = {
      ws,
      symbols: new Set(),
      intervals: new Set(),
      trades: false,
      queue: [],
      queuedBytes: 0,
      updates: new Map(),
      conflated: 0,
    };
    this.#clients.add(c);
    this.#o.onClients?.(this.#clients.size);
    ws.on('message', (data) => void this.#onMessage(c, data.toString()));
    ws.on('close', () => {
      this.#dirty.delete(c);
      this.#clients.delete(c);
      this.#o.onClients?.(this.#clients.size);
    });
    ws.on('error', () => ws.terminate());
  }

  async #onMessage(c: Client, text: string): Promise<void> {
    let msg: z.infer<typeof SubscribeSchema>;
    try {
      const parsed = SubscribeSchema.safeParse(JSON.parse(text));
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        this.#enqueue(
          c,
          JSON.stringify({
            type: 'error',
            message: `${issue.path.join('.') || 'message'}: ${issue.message}`,
          }),
        );
        return;
      }
      msg = parsed.data;
    } catch {
      this.#enqueue(c, JSON.stringify({ type: 'error', message: 'messages must be JSON' }));
      return;
    }
    const symbols = msg.symbols.map((s) => s.toUpperCase());
    if (msg.type === 'unsubscribe') {
      for (const s of symbols) c.symbols.delete(s);
      this.#enqueue(c, JSON.stringify({ type: 'unsubscribed', symbols }));
      return;
    }
    for (const s of symbols) c.symbols.add(s);
    for (const i of msg.intervals ?? ['1s', '1m', '5m']) c.intervals.add(i);
    if (msg.trades !== undefined) c.trades = msg.trades;
    this.#enqueue(
      c,
      JSON.stringify({
        type: 'subscribed',
        symbols: [...c.symbols],
        intervals: [...c.intervals],
        trades: c.trades,
      }),
    );
    // Resume: the final bars stored after what the client saw last, before anything live.
    for (const r of msg.resume ?? []) {
      const bars: Bar[] = await this.#o.store.readBars({
        symbol: r.symbol.toUpperCase(),
        interval: r.interval,
        from: r.after + 1,
        limit: 10_000,
      });
      for (const bar of bars)
        this.#enqueue(c, JSON.stringify({ type: 'bar', kind: 'final', bar, replay: true }));
    }
  }

  #enqueue(c: Client, text: string): void {
    c.queue.push(text);
    c.queuedBytes += text.length;
    if (c.queuedBytes + c.ws.bufferedAmount > this.#o.maxQueuedBytes) this.#drop(c);
    else this.#dirty.add(c);
  }

  #drop(c: Client): void {
    this.#dirty.delete(c);
    c.queue = [];
    c.updates.clear();
    c.queuedBytes = 0;
    c.ws.close(4008, `too slow: more than ${this.#o.maxQueuedBytes} bytes waiting`);
    // A client that does not even read the close frame is cut off.
    setTimeout(() => c.ws.terminate(), 1_000).unref();
    this.#clients.delete(c);
    this.#o.onClients?.(this.#clients.size);
  }

  /** One frame per client that has something queued and a socket that is keeping up. */
  #flush(): void {
    const hw = this.#o.highWaterBytes;
    for (const c of this.#dirty) {
      if (c.ws.readyState !== c.ws.OPEN) {
        this.#dirty.delete(c);
        continue;
      }
      // Behind: hold everything (updates keep conflating) until the socket drains.
      if (c.ws.bufferedAmount >= hw) continue;
      const parts = c.queue;
      for (const u of c.updates.values()) parts.push(u.text);
      c.queue = [];
      c.queuedBytes = 0;
      c.updates.clear();
      this.#dirty.delete(c);
      if (parts.length > 0) c.ws.send(`[${parts.join(',')}]`);
    }
  }
}

function nanToNull(v: Record<string, number>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [k, x] of Object.entries(v)) out[k] = Number.isFinite(x) ? x : null;
  return out;
}
