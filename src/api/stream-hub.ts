/**
 * WebSocket `/api/stream`: live trades and bars to subscribed clients.
 *
 * Client → server (JSON text):
 *   {"type":"subscribe","symbols":["AAPL"],"intervals":["1s","1m"],"trades":true,
 *    "resume":[{"symbol":"AAPL","interval":"1m","after":1717423200000}]}
 *   {"type":"unsubscribe","symbols":["AAPL"]}
 *   {"type":"subscribe","pipelines":true}   (run and task state changes)
 * Server → client: every frame is a JSON array of messages, in order:
 *   {"type":"subscribed",…}  {"type":"trade","trade":{…}}
 *   {"type":"bar","kind":"update"|"close"|"correction"|"final","bar":{…},"indicators"?:{…}}
 *   {"type":"run","run":{…}}  {"type":"task","attempt":{…}}
 *   {"type":"error","message":…}
 *
 * Publishing never waits for a client and never writes to a socket: it only
 * queues, once per subscription group. Clients with the same subscription
 * (symbols, intervals, trades) that keep up share one group: one queue,
 * one conflation map, and every `flushMs` one frame, encoded once and sent
 * to each of them, so 200 dashboards on one symbol cost about what one does.
 * Forming-bar updates are conflated to the newest per symbol and interval.
 * A client that falls behind (its socket buffer above `highWaterBytes`), or
 * that is sent something of its own (a subscription change, an error, a
 * resume), leaves its group for a group of its own with a copy of what was
 * pending, and rejoins at the first flush after which it has caught up. On
 * its own it keeps getting conflated updates; one that falls further behind
 * than `maxQueuedBytes` is closed with code 4008 and a reason.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import { SYMBOL_PATTERN, SYMBOL_RULE } from '../core/limits.ts';
import type { Bar, Trade } from '../core/records.ts';
import { INTERVALS } from '../core/time.ts';
import type { StreamEvent } from '../pipelines/stream.ts';
import type { Store } from '../store/store.ts';

const SubscribeSchema = z
  .object({
    type: z.enum(['subscribe', 'unsubscribe']),
    symbols: z.array(z.string().regex(SYMBOL_PATTERN, SYMBOL_RULE)).max(500).default([]),
    /** Pipeline run and task state changes. */
    pipelines: z.boolean().optional(),
    intervals: z.array(z.enum(INTERVALS)).max(INTERVALS.length).optional(),
    trades: z.boolean().optional(),
    resume: z
      .array(
        z.object({
          symbol: z.string().regex(SYMBOL_PATTERN, SYMBOL_RULE),
          interval: z.enum(INTERVALS),
          after: z.number().int(),
        }),
      )
      .max(500)
      .optional(),
  })
  .strict()
  .refine((m) => m.symbols.length > 0 || m.pipelines !== undefined, {
    message: 'symbols (at least one) or pipelines: true',
    path: ['symbols'],
  });

export interface StreamHubOptions {
  store: Store;
  /** Bytes a client may have waiting (ours plus the socket's) before it is dropped (default 1 MiB). */
  maxQueuedBytes?: number;
  /** The socket buffer above which we hold messages back and conflate (default 64 KiB). */
  highWaterBytes?: number;
  /** How often queued messages go out, one frame per client (default 100 ms). */
  flushMs?: number;
  /**
   * Every client is pinged this often (default 10 s); one that has not
   * answered the previous ping (it is not reading its socket) is closed.
   * So a client that stops reading is dropped within two heartbeats even
   * while the kernel's socket buffers still take what is sent to it.
   */
  heartbeatMs?: number;
  onClients?: (n: number) => void;
}

/** Clients with one subscription, and what is queued for them since the last flush. */
interface Group {
  symbols: Set<string>;
  intervals: Set<string>;
  trades: boolean;
  /** Pipeline run and task changes. */
  pipelines: boolean;
  members: Set<Client>;
  /** Shared groups are keyed by their subscription; a client's own group is not. */
  shared: boolean;
  /** In-order messages (trades, closes, corrections, finals, and a client's own). */
  queue: string[];
  queuedBytes: number;
  /** The newest forming-bar update per symbol+interval (conflated), with its bar's ts. */
  updates: Map<string, { ts: number; text: string }>;
}

interface Client {
  ws: WebSocket;
  group: Group;
  /** A ping is out and its pong has not come back. */
  awaitingPong: boolean;
}

const signature = (g: Group): string =>
  `${[...g.symbols].sort().join(',')}|${[...g.intervals].sort().join(',')}|${g.trades}|${g.pipelines}`;

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
  /** Shared groups by subscription signature. */
  readonly #shared = new Map<string, Group>();
  /** Groups of one client (behind, new, or sent something of its own). */
  readonly #own = new Set<Group>();
  /** Groups with something queued since the last flush. */
  readonly #dirty = new Set<Group>();
  readonly #timer: NodeJS.Timeout;

  constructor(opts: StreamHubOptions) {
    this.#o = {
      store: opts.store,
      maxQueuedBytes: opts.maxQueuedBytes ?? 1024 * 1024,
      highWaterBytes: opts.highWaterBytes ?? 64 * 1024,
      flushMs: opts.flushMs ?? 100,
      heartbeatMs: opts.heartbeatMs ?? 10_000,
      onClients: opts.onClients,
    };
    this.#wss.on('connection', (ws) => this.#join(ws));
    this.#timer = setInterval(() => this.#flush(), this.#o.flushMs);
    this.#timer.unref();
    this.#heartbeat = setInterval(() => this.#beat(), this.#o.heartbeatMs);
    this.#heartbeat.unref();
  }

  readonly #heartbeat: NodeJS.Timeout;

  /** Closes clients that did not answer the last ping; pings the others. */
  #beat(): void {
    for (const c of [...this.#clients]) {
      if (c.awaitingPong) {
        this.#leave(c);
        c.ws.close(4008, `not reading: no answer to a ping within ${this.#o.heartbeatMs} ms`);
        setTimeout(() => c.ws.terminate(), 1_000).unref();
        continue;
      }
      c.awaitingPong = true;
      try {
        c.ws.ping();
      } catch {
        c.ws.terminate();
      }
    }
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** How many groups the clients are in (shared ones and clients on their own), for tests. */
  get groups(): { shared: number; own: number } {
    return { shared: this.#shared.size, own: this.#own.size };
  }

  /** Takes over an HTTP upgrade that was already authorized. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#wss.emit('connection', ws, req));
  }

  /** Fans a pipeline run or task change out to clients subscribed with `pipelines: true`. */
  publishPipeline(e: { type: 'run'; run: unknown } | { type: 'attempt'; attempt: unknown }): void {
    if (this.#clients.size === 0) return;
    const text = JSON.stringify(
      e.type === 'run' ? { type: 'run', run: e.run } : { type: 'task', attempt: e.attempt },
    );
    for (const g of this.#groups()) if (g.pipelines) this.#enqueue(g, text);
  }

  /** Fans an event of the live path out; synchronous, and bounded per group. */
  publish(e: StreamEvent): void {
    if (this.#clients.size === 0 || e.kind === 'source') return;
    if (e.kind === 'trades') {
      for (const g of this.#groups()) {
        if (!g.trades) continue;
        for (const t of e.trades) {
          if (g.symbols.has(t.symbol))
            this.#enqueue(g, JSON.stringify({ type: 'trade', trade: tradeOut(t) }));
        }
      }
      return;
    }
    let text: string | null = null;
    const b = e.bar;
    const key = `${b.symbol}\u0000${b.interval}`;
    for (const g of this.#groups()) {
      if (!g.symbols.has(b.symbol) || !g.intervals.has(b.interval)) continue;
      text ??= JSON.stringify({
        type: 'bar',
        kind: e.kind,
        bar: b,
        ...(e.kind === 'final' && e.indicators ? { indicators: nanToNull(e.indicators) } : {}),
      });
      if (e.kind === 'update') {
        g.updates.set(key, { ts: b.ts, text });
        this.#dirty.add(g);
      } else {
        // A close, correction or final supersedes a pending update of the same bar.
        if (g.updates.get(key)?.ts === b.ts) g.updates.delete(key);
        this.#enqueue(g, text);
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    clearInterval(this.#heartbeat);
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

  *#groups(): Iterable<Group> {
    yield* this.#shared.values();
    yield* this.#own;
  }

  #join(ws: WebSocket): void {
    const c: Client = {
      ws,
      group: this.#ownGroup(new Set(), new Set(), false, false),
      awaitingPong: false,
    };
    c.group.members.add(c);
    this.#clients.add(c);
    this.#o.onClients?.(this.#clients.size);
    ws.on('pong', () => {
      c.awaitingPong = false;
    });
    ws.on('message', (data) => void this.#onMessage(c, data.toString()));
    ws.on('close', () => this.#leave(c));
    ws.on('error', () => ws.terminate());
  }

  #ownGroup(
    symbols: Set<string>,
    intervals: Set<string>,
    trades: boolean,
    pipelines: boolean,
  ): Group {
    const g: Group = {
      symbols,
      intervals,
      trades,
      pipelines,
      members: new Set(),
      shared: false,
      queue: [],
      queuedBytes: 0,
      updates: new Map(),
    };
    this.#own.add(g);
    return g;
  }

  /** Takes a client out of its group (it keeps nothing of the group's queue). */
  #leave(c: Client): void {
    const g = c.group;
    g.members.delete(c);
    if (g.members.size === 0) {
      this.#dirty.delete(g);
      if (g.shared) this.#shared.delete(signature(g));
      else this.#own.delete(g);
    }
    if (this.#clients.delete(c)) this.#o.onClients?.(this.#clients.size);
  }

  /**
   * Gives a client a group of its own with the same subscription and a copy of what is
   * pending for it (`pending`, or its shared group's queue and updates); returns that group.
   */
  #detach(c: Client, pending?: { parts: string[]; bytes: number }): Group {
    const from = c.group;
    if (!from.shared) return from;
    const g = this.#ownGroup(
      new Set(from.symbols),
      new Set(from.intervals),
      from.trades,
      from.pipelines,
    );
    if (pending) {
      g.queue = pending.parts.slice();
      g.queuedBytes = pending.bytes;
    } else {
      g.queue = from.queue.slice();
      g.queuedBytes = from.queuedBytes;
      g.updates = new Map(from.updates);
    }
    from.members.delete(c);
    if (from.members.size === 0) {
      this.#shared.delete(signature(from));
      this.#dirty.delete(from);
    }
    g.members.add(c);
    c.group = g;
    if (g.queue.length > 0 || g.updates.size > 0) this.#dirty.add(g);
    return g;
  }

  /** Queues a message for one client only. */
  #send(c: Client, text: string): void {
    this.#enqueue(this.#detach(c), text);
  }

  async #onMessage(c: Client, text: string): Promise<void> {
    let msg: z.infer<typeof SubscribeSchema>;
    try {
      const parsed = SubscribeSchema.safeParse(JSON.parse(text));
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        this.#send(
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
      this.#send(c, JSON.stringify({ type: 'error', message: 'messages must be JSON' }));
      return;
    }
    const symbols = msg.symbols.map((s) => s.toUpperCase());
    const g = this.#detach(c);
    if (msg.type === 'unsubscribe') {
      for (const s of symbols) g.symbols.delete(s);
      if (msg.pipelines) g.pipelines = false;
      this.#enqueue(g, JSON.stringify({ type: 'unsubscribed', symbols }));
      return;
    }
    for (const s of symbols) g.symbols.add(s);
    for (const i of msg.intervals ?? ['1s', '1m', '5m']) g.intervals.add(i);
    if (msg.trades !== undefined) g.trades = msg.trades;
    if (msg.pipelines !== undefined) g.pipelines = msg.pipelines;
    this.#enqueue(
      g,
      JSON.stringify({
        type: 'subscribed',
        symbols: [...g.symbols],
        intervals: [...g.intervals],
        trades: g.trades,
        pipelines: g.pipelines,
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
        this.#send(c, JSON.stringify({ type: 'bar', kind: 'final', bar, replay: true }));
    }
  }

  #enqueue(g: Group, text: string): void {
    g.queue.push(text);
    g.queuedBytes += text.length;
    this.#dirty.add(g);
    // A client on its own may hold its queue for long: it is bounded here. A shared group's
    // members keep up, and its queue holds one flush interval; it is checked at the flush.
    if (!g.shared) {
      for (const c of g.members) {
        if (g.queuedBytes + c.ws.bufferedAmount > this.#o.maxQueuedBytes) this.#drop(c);
      }
    }
  }

  #drop(c: Client): void {
    this.#leave(c);
    c.ws.close(4008, `too slow: more than ${this.#o.maxQueuedBytes} bytes waiting`);
    // A client that does not even read the close frame is cut off.
    setTimeout(() => c.ws.terminate(), 1_000).unref();
  }

  /** Takes a group's queue and conflated updates as one frame's parts. */
  #take(g: Group): { parts: string[]; bytes: number } {
    const parts = g.queue;
    let bytes = g.queuedBytes;
    for (const u of g.updates.values()) {
      parts.push(u.text);
      bytes += u.text.length;
    }
    g.queue = [];
    g.queuedBytes = 0;
    g.updates.clear();
    this.#dirty.delete(g);
    return { parts, bytes };
  }

  /**
   * One frame per shared group, encoded once, to each member that is keeping up (one that is
   * not goes on its own with the frame still pending); then one per client on its own that is
   * keeping up, which then rejoins the shared group of its subscription.
   */
  #flush(): void {
    const hw = this.#o.highWaterBytes;
    for (const g of [...this.#dirty]) {
      if (!g.shared) continue;
      const pending = this.#take(g);
      if (pending.parts.length === 0) continue;
      const frame = Buffer.from(`[${pending.parts.join(',')}]`);
      for (const c of [...g.members]) {
        if (c.ws.readyState !== c.ws.OPEN) continue;
        if (frame.length + c.ws.bufferedAmount > this.#o.maxQueuedBytes) this.#drop(c);
        else if (c.ws.bufferedAmount >= hw) this.#detach(c, pending);
        else c.ws.send(frame, { binary: false }); // a text frame, as JSON is
      }
    }
    for (const g of [...this.#own]) {
      const c = g.members.values().next().value;
      if (!c || c.ws.readyState !== c.ws.OPEN) continue;
      // Behind: hold everything (updates keep conflating) until the socket drains.
      if (c.ws.bufferedAmount >= hw) continue;
      if (this.#dirty.has(g)) {
        const { parts } = this.#take(g);
        if (parts.length > 0) c.ws.send(`[${parts.join(',')}]`);
      }
      this.#rejoin(c);
    }
  }

  /** Moves a client with nothing pending into the shared group of its subscription. */
  #rejoin(c: Client): void {
    const own = c.group;
    const key = signature(own);
    let g = this.#shared.get(key);
    if (!g) {
      g = {
        ...own,
        members: new Set(),
        shared: true,
        queue: [],
        queuedBytes: 0,
        updates: new Map(),
      };
      this.#shared.set(key, g);
    }
    own.members.delete(c);
    this.#own.delete(own);
    this.#dirty.delete(own);
    g.members.add(c);
    c.group = g;
  }
}

function nanToNull(v: Record<string, number>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [k, x] of Object.entries(v)) out[k] = Number.isFinite(x) ? x : null;
  return out;
}
