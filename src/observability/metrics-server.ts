/**
 * A worker's own scrape endpoint: `GET /metrics` (Prometheus text) and
 * `GET /api/health` (liveness), nothing else. `tickline up` serves both on
 * its API port; a worker has no API, so `--metrics-port` starts this.
 */
import { createServer, type Server } from 'node:http';
import type { Metrics } from './metrics.ts';

export async function serveMetrics(metrics: Metrics, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message),
      );
    } else if (path === '/api/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else {
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end('only /metrics and /api/health here');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  return server;
}
