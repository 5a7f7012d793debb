/**
 * `tickline up`: everything on the embedded defaults. It loads the bundled
 * real history on first start, then runs the live path until stopped: the
 * Finnhub feed when FINNHUB_TOKEN is set, the simulator otherwise. (The API
 * server and dashboard join this command when they land.)
 */
import { createServer as createNetServer } from 'node:net';
import type { Command } from 'commander';
import type { FeedState, LiveHandle } from '../../api/context.ts';
import { readTls } from '../../api/tls.ts';
import type { ControlServer } from '../../control/control-server.ts';
import { storeLocation } from '../../core/config.ts';
import { UsageError } from '../../core/errors.ts';
import { durationMs } from '../../core/pipeline-schema.ts';
import type { StreamEvent, StreamPipeline, StreamStats } from '../../pipelines/stream.ts';
import { parsePort, parseSymbols } from '../args.ts';
import { commandConfig, type GlobalOptions, withStore } from '../context.ts';
import {
  HOURS_HELP,
  liveSourceFromFlags,
  startSimulatorFromStore,
  stopOnSignals,
} from '../live.ts';
import { applyLogFlag, runLive } from '../live-run.ts';
import { loadDemoHistory } from './demo.ts';

const DEFAULT_SYMBOLS = 'AAPL,MSFT,NVDA,TSLA,SPY';

/** What only `up` runs: the API server, the stream hub, metrics, the scheduler and the control socket. */
async function loadUpModules() {
  const [auth, server, hub, metrics, watch, pipelines, control, pipelinesSvc, storeSvc] =
    await Promise.all([
      import('../../api/auth.ts'),
      import('../../api/server.ts'),
      import('../../api/stream-hub.ts'),
      import('../../observability/metrics.ts'),
      import('../../observability/watch.ts'),
      import('../../pipelines/pipeline-service.ts'),
      import('../../control/control-server.ts'),
      import('../../control/pipelines-service.ts'),
      import('../../control/store-service.ts'),
    ]);
  return {
    KeyChecker: auth.KeyChecker,
    createServer: server.createServer,
    StreamHub: hub.StreamHub,
    Metrics: metrics.Metrics,
    ConditionWatch: watch.ConditionWatch,
    PipelineService: pipelines.PipelineService,
    ControlServer: control.ControlServer,
    pipelinesService: pipelinesSvc.pipelinesService,
    storeService: storeSvc.storeService,
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Valid trades per second over the last five seconds, sampled every second. */
function rateOf(p: StreamPipeline): () => number {
  const samples: { at: number; n: number }[] = [{ at: Date.now(), n: 0 }];
  setInterval(() => {
    samples.push({ at: Date.now(), n: p.stats.tradesValid });
    if (samples.length > 6) samples.shift();
  }, 1_000).unref();
  return () => {
    const first = samples[0]!;
    const last = samples[samples.length - 1]!;
    return last.at > first.at ? ((last.n - first.n) * 1000) / (last.at - first.at) : 0;
  };
}

/** The feed's state after a live event (trades make it live; the source's events say the rest). */
export function nextFeedState(f: FeedState, e: StreamEvent, now = Date.now()): FeedState {
  const to = (state: FeedState['state'], detail: string | null): FeedState =>
    f.state === state && f.detail === detail ? f : { ...f, state, since: now, detail };
  if (e.kind === 'trades') return f.state === 'live' ? f : to('live', null);
  if (e.kind !== 'source') return f;
  const ev = e.event;
  switch (ev.kind) {
    case 'connected':
      return to('live', null);
    case 'disconnected':
      return to('reconnecting', ev.reason);
    case 'stale':
      return to('stale', `no trade for ${Math.round(ev.silentMs / 1000)} s`);
    case 'market_closed':
      return to(
        'market_closed',
        ev.nextOpen ? `next trades at ${new Date(ev.nextOpen).toISOString().slice(0, 16)}Z` : null,
      );
    case 'error':
      return to('error', ev.message);
    default:
      return f;
  }
}

/** Refuses a port that another program holds (EADDRINUSE), or an address this machine lacks. */
export async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new UsageError(
              '--port',
              `${port} on ${host} is in use (another tickline, or another program); pick another with --port <n>, or --port 0 for any free port`,
            )
          : err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND'
            ? new UsageError('--host', `${host} is not an address of this machine`)
            : err,
      );
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description(
      'load the bundled history (first start) and run the live path: Finnhub with FINNHUB_TOKEN, else the simulator',
    )
    .option('--symbols <list>', 'live symbols', DEFAULT_SYMBOLS)
    .option('--rate <n>', 'simulator: trades per second', '50')
    .option('--hours <h>', HOURS_HELP, 'calendar')
    .option('--fault-rate <x>', 'simulator: fraction of bad records injected', '0.002')
    .option('--duration <s>', 'stop (and drain) after this many seconds')
    .option('--host <address>', 'address the server binds to', '127.0.0.1')
    .option('--port <n>', 'port of the API, dashboard and /metrics (0 = any free port)', '7070')
    .option('--log <kind>', 'the log between stages: memory | kafka (workers can join over Kafka)')
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const cfg = commandConfig(cmd.optsWithGlobals() as GlobalOptions);
      applyLogFlag(cfg, o.log);
      const symbols = parseSymbols(o.symbols);
      const host = o.host ?? '127.0.0.1';
      const open = isLoopback(host);
      const port = o.port === undefined ? 7070 : parsePort(o.port);
      // Before anything slow (the history import): a port in use is said at once, naming --port.
      await checkPortFree(host, port);
      await readTls(cfg.api.tls);
      // The server, scheduler and metrics, loaded while the store opens (other commands never do).
      const upModules = loadUpModules();
      upModules.catch(() => undefined);
      const finnhub = Boolean(process.env.FINNHUB_TOKEN);
      const { source } = liveSourceFromFlags(
        { ...o, source: finnhub ? 'finnhub' : 'simulator', seed: String(Date.now() % 2 ** 31) },
        cfg,
      );
      const stop = new AbortController();
      const release = stopOnSignals(stop, 'draining: storing what was received');
      try {
        await withStore(
          cfg,
          async (store) => {
            const stored = await store.status();
            if (!stored.some((s) => s.interval === '1d')) {
              const summary = await loadDemoHistory(store, cfg.quality);
              process.stdout.write(`loaded the bundled history: ${summary.rows} daily bars\n`);
            }
            const { Metrics, StreamHub, KeyChecker, PipelineService, ConditionWatch } =
              await upModules;
            const metrics = new Metrics();
            let live: LiveHandle | null = null;
            // Forming bars are made only while a WebSocket client is connected to be told them.
            const hub = new StreamHub({
              store,
              onClients: (n) => {
                metrics.wsClients.set(n);
                (live as LiveHandle | null)?.pipeline.setBarUpdates(n > 0);
              },
            });
            const keys = new KeyChecker(store);
            // Pipelines: the scheduler, workers and alerts run in this process.
            const pipelines = await PipelineService.open({
              cfg,
              store,
              schedule: true,
              metrics,
              onEvent: (e) => hub.publishPipeline(e),
            });
            // Alert conditions beside runs: stale series, the quarantine rate, a stale feed.
            const watch = new ConditionWatch({
              alerter: pipelines.alerter,
              store,
              calendars: pipelines.calendars,
              live: () => {
                const p = live?.pipeline;
                if (!p) return null;
                const rejects = Object.values(p.stats.rejectsByRule).reduce((a, b) => a + b, 0);
                return { records: p.stats.tradesIn, rejects };
              },
            });
            watch.start(durationMs(cfg.alerts.evaluateEvery));
            const { createServer, ControlServer, pipelinesService, storeService } = await upModules;
            const server = await createServer({
              pipelines,
              keys,
              store,
              cfg,
              metrics,
              live: () => live,
              requireKeyForReads: !open,
              host,
              hub,
            });
            let stats: StreamStats;
            let feed: FeedState = {
              source: source.name,
              state: 'starting',
              since: Date.now(),
              detail: null,
            };
            let lastTradeAt: number | null = null;
            metrics.watchFeed(() => ({ source: feed.source, state: feed.state, lastTradeAt }));
            metrics.watchDataDir(cfg.dataDir);
            let control: ControlServer | null = null;
            try {
              await server.listen({ host, port }).catch(async (err: NodeJS.ErrnoException) => {
                // Taken since the check at start: said the same way.
                if (err.code === 'EADDRINUSE') await checkPortFree(host, port);
                throw err;
              });
              const addr = server.server.address();
              const url = `${cfg.api.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${typeof addr === 'object' && addr ? addr.port : port}`;
              // Other tickline commands on this machine go through this process from now on.
              pipelines.alerter.setBaseUrl(url);
              const plan = (await pipelines.list())
                .map(
                  (p) =>
                    `${p.name}${p.nextRun ? ` (next ${new Date(p.nextRun).toISOString().slice(0, 16)}Z)` : ''}`,
                )
                .join(', ');
              process.stdout.write(
                `pipelines: ${plan || 'none'}; tickline pipelines list, tickline runs, ${url}/#/runs\n`,
              );
              control = await ControlServer.listen(
                cfg.dataDir,
                {
                  pipelines: pipelinesService(pipelines),
                  store: storeService(store, {
                    location: storeLocation(cfg),
                    afterCall: (m) => {
                      if (m === 'keys.revokeApiKey') keys.forget();
                    },
                  }),
                },
                url,
              );
              if (!open) {
                const keys = (await store.capability('keys').listApiKeys()).filter(
                  (k) => k.revokedAt === null,
                );
                process.stdout.write(
                  `${host} is not loopback: every request needs an API key (Authorization: Bearer …)${keys.length ? '' : '; none exists yet: run tickline keys create --scope read'}\n`,
                );
              }
              process.stdout.write(
                `dashboard: ${url}/  (API ${url}/api, docs ${url}/api/docs, metrics ${url}/metrics)\nlive: ${finnhub ? 'Finnhub' : 'simulator (set FINNHUB_TOKEN for the Finnhub feed)'} → ${symbols.join(', ')}; storing into ${storeLocation(cfg)}; Ctrl-C stops\n`,
              );
              startSimulatorFromStore(source, store, symbols, (line) =>
                process.stdout.write(`${line}\n`),
              );
              stats = await runLive({
                cfg,
                store,
                source,
                symbols,
                accept: new Set(symbols),
                stop,
                durationArg: o.duration,
                onFlush: (ms) => metrics.storeWrite.observe(ms / 1000),
                onEvent: (e) => {
                  hub.publish(e);
                  feed = nextFeedState(feed, e);
                  if (e.kind === 'source' && e.event.kind === 'stale') {
                    watch.feed(
                      source.name,
                      true,
                      `no trade for ${Math.round(e.event.silentMs / 1000)} s`,
                    );
                  } else if (e.kind === 'trades') {
                    lastTradeAt = Date.now();
                    watch.feed(source.name, false);
                  }
                },
                onPipeline: (pipeline, logKind) => {
                  metrics.watch(pipeline);
                  pipeline.setBarUpdates(hub.clients > 0);
                  live = { pipeline, logKind, rate: rateOf(pipeline), feed: () => feed };
                },
              });
            } finally {
              await control?.close();
              await server.close();
              // Running attempts get a moment to end; what is cut off is retried on the next start.
              watch.stop();
              await pipelines.close(5_000);
            }
            process.stdout.write(
              `stopped: ${stats.store.tradesStored} new trades and ${stats.barsClosed} bars stored\n`,
            );
          },
          { own: true },
        );
      } finally {
        release();
      }
    });
}
