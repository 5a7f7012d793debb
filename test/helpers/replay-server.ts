/**
 * A local HTTP server (127.0.0.1, random port) that replays recorded
 * responses. Each route answers from a script: a list of steps used in turn
 * (the last one repeats), so a test can say "429 twice, then the recording".
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface Step {
  status?: number;
  body?: string;
  headers?: Record<string, string>;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Answer once this settles (a test holds a request in flight until it is done with it). */
  after?: Promise<unknown>;
  /** Drop the connection without an answer. */
  drop?: boolean;
}

export type Route = (url: URL, req: IncomingMessage) => Step[] | undefined;

export interface ReplayServer {
  url: string;
  /** Every request path+query received, in order. */
  requests: string[];
  /** The User-Agent of every request, in order. */
  userAgents: string[];
  close(): Promise<void>;
}

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

export async function startReplayServer(route: Route): Promise<ReplayServer> {
  const requests: string[] = [];
  const userAgents: string[] = [];
  const cursors = new Map<Step[], number>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push(`${url.pathname}${url.search}`);
    userAgents.push(req.headers['user-agent'] ?? '');
    const steps = route(url, req);
    if (!steps || steps.length === 0) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no recording for ${url.pathname}`);
      return;
    }
    const i = cursors.get(steps) ?? 0;
    cursors.set(steps, i + 1);
    const step = steps[Math.min(i, steps.length - 1)]!;
    const answer = (): void => {
      if (step.drop) {
        req.socket.destroy();
        return;
      }
      res.writeHead(step.status ?? 200, { 'content-type': 'application/json', ...step.headers });
      res.end(step.body ?? '');
    };
    if (step.after) void step.after.then(answer, answer);
    else if (step.delayMs) setTimeout(answer, step.delayMs);
    else answer();
  });
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    userAgents,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
