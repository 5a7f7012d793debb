/**
 * A local WebSocket server (127.0.0.1, random port) that plays a recorded
 * Finnhub session: it waits for each connection's subscriptions, then sends
 * the session from where the last connection stopped. `dropAfter` lists
 * message counts after which the connection is cut without a close frame
 * (as a network drop), so the client must reconnect and resubscribe.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface FinnhubServer {
  url: string;
  /** The query token of each connection, in order. */
  tokens: string[];
  /** Upgrades refused (refuseToken). */
  refused: number;
  /** The messages the client sent on each connection. */
  received: string[][];
  /** Messages sent so far (over all connections), and when each was sent. */
  sent: number;
  sentAt: number[];
  /** Resolves once every message of the session has been sent. */
  allSent: Promise<void>;
  /** Starts the session over from the first message (for a client that restarts). */
  rewind(holdAt?: number): void;
  close(): Promise<void>;
}

export interface FinnhubServerOptions {
  session: readonly string[];
  /** Subscriptions awaited before sending (default: 1). */
  expectSubscriptions?: number;
  dropAfter?: number[];
  /** Messages per burst, and the pause between bursts (default 100 and 0 ms). */
  burst?: number;
  pauseMs?: number;
  /** Stop sending after this many messages until `resume()`. */
  holdAt?: number;
  /** Refuse the upgrade of a connection with this token (HTTP 401), as Finnhub does. */
  refuseToken?: string;
}

export async function startFinnhubServer(
  o: FinnhubServerOptions,
): Promise<FinnhubServer & { resume(): void }> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (info, done) => {
      const token = new URL(info.req.url ?? '/', 'http://x').searchParams.get('token');
      if (o.refuseToken !== undefined && token === o.refuseToken) {
        server.refused++;
        done(false, 401, 'Unauthorized');
      } else done(true);
    },
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const port = (wss.address() as AddressInfo).port;
  const drops = new Set(o.dropAfter ?? []);
  let markAllSent = (): void => {};
  let hold = o.holdAt ?? Infinity;
  let wakeHold = (): void => {};
  const server = {
    url: `ws://127.0.0.1:${port}`,
    tokens: [] as string[],
    refused: 0,
    received: [] as string[][],
    sent: 0,
    sentAt: [] as number[],
    allSent: new Promise<void>((resolve) => {
      markAllSent = resolve;
    }),
    rewind(holdAt = Infinity): void {
      hold = holdAt;
      server.sent = 0;
      server.sentAt = [];
      drops.clear();
      server.allSent = new Promise<void>((resolve) => {
        markAllSent = resolve;
      });
    },
    resume(): void {
      hold = Infinity;
      wakeHold();
    },
    close: async (): Promise<void> => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
  wss.on('connection', (ws, req) => {
    server.tokens.push(new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? '');
    const got: string[] = [];
    server.received.push(got);
    let started = false;
    const play = async (): Promise<void> => {
      const burst = o.burst ?? 100;
      while (server.sent < o.session.length && ws.readyState === ws.OPEN) {
        if (server.sent >= hold) {
          await new Promise<void>((resolve) => {
            wakeHold = resolve;
          });
          continue;
        }
        for (let k = 0; k < burst && server.sent < o.session.length; k++) {
          ws.send(o.session[server.sent]!);
          server.sentAt.push(Date.now());
          server.sent++;
          if (drops.has(server.sent)) {
            drops.delete(server.sent);
            ws.terminate();
            return;
          }
          if (server.sent >= hold) break;
        }
        await new Promise((r) => setTimeout(r, o.pauseMs ?? 0));
      }
      if (server.sent >= o.session.length) markAllSent();
    };
    ws.on('message', (data) => {
      got.push(data.toString());
      if (!started && got.length >= (o.expectSubscriptions ?? 1)) {
        started = true;
        void play();
      }
    });
  });
  return server;
}
