/**
 * `tickline worker`: runs stages of the live path with no source and no
 * HTTP server, as one member of their consumer groups on a shared log
 * (Kafka). Start as many as the partitions allow: they share the work, and
 * when one stops or dies the others take over its partitions, restoring
 * their checkpointed state (open windows, rule memory).
 *
 * The default stage is `process` (quality rules and bars). The store stage
 * writes into this process's store; with the embedded DuckDB file only one
 * process can hold it (`tickline up --log kafka` runs it, or one
 * `tickline worker --stages store`).
 */
import type { Command } from 'commander';
import { type Config, storeLocation } from '../../core/config.ts';
import { UsageError } from '../../core/errors.ts';
import { runnerOf } from '../../core/pipeline-schema.ts';
import type { Metrics } from '../../observability/metrics.ts';
import type { StreamStats } from '../../pipelines/stream.ts';
import type { Store } from '../../store/store.ts';
import { parsePort, parseSymbols } from '../args.ts';
import { commandConfig, type GlobalOptions, withStore } from '../context.ts';
import { stopOnSignals } from '../live.ts';
import { applyLogFlag, parseStages, runLive } from '../live-run.ts';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description(
      'run live-path stages (default: process) as a worker on a shared log, no HTTP server',
    )
    .option('--log <kind>', 'the shared log: kafka (default: the config’s log.kind)')
    .option('--stages <list>', 'stages: process and/or store', 'process')
    .option('--symbols <list>', 'symbols the quality stage accepts (default: any the feed sends)')
    .option('--duration <s>', 'stop after this many seconds')
    .option(
      '--metrics-port <n>',
      'serve /metrics and /api/health on this port (for Prometheus; 0 picks one)',
    )
    .option('--metrics-host <host>', 'the address --metrics-port listens on', '127.0.0.1')
    .option(
      '--pipelines',
      'run pipeline tasks from the shared PostgreSQL queue (and stand for scheduler leader)',
    )
    .action(async (o: Record<string, string | boolean | undefined>, cmd: Command) => {
      const cfg = commandConfig(cmd.optsWithGlobals() as GlobalOptions);
      const [{ Metrics }, { serveMetrics }] = await Promise.all([
        import('../../observability/metrics.ts'),
        import('../../observability/metrics-server.ts'),
      ]);
      const metrics = new Metrics();
      if (o.metricsPort !== undefined) {
        const port = parsePort(o.metricsPort as string, '--metrics-port');
        const server = await serveMetrics(metrics, o.metricsHost as string, port);
        const addr = server.address();
        process.stdout.write(
          `metrics: http://${o.metricsHost}:${typeof addr === 'object' && addr ? addr.port : port}/metrics\n`,
        );
      }
      if (o.pipelines) return pipelineWorker(cfg, o.duration as string | undefined, metrics);
      applyLogFlag(cfg, o.log as string | undefined);
      if (cfg.log.kind !== 'kafka') {
        throw new UsageError(
          '--log',
          'a worker needs a log shared between processes: --log kafka (or log.kind: kafka)',
        );
      }
      const stages = parseStages(o.stages as string | undefined, ['process']);
      if (stages.includes('ingest')) {
        throw new UsageError(
          '--stages',
          'a worker has no source: run the ingest stage with tickline stream or up',
        );
      }
      const symbols = o.symbols === undefined ? [] : parseSymbols(o.symbols as string);
      const stop = new AbortController();
      const release = stopOnSignals(stop, 'stopping: checkpointing and leaving the group');
      process.stdout.write(
        `worker: ${stages.join(' + ')} over Kafka ${cfg.log.brokers.join(',')}${stages.includes('store') ? `, storing into ${storeLocation(cfg)}` : ''}\n`,
      );
      try {
        const run = (store?: Store): Promise<StreamStats> =>
          runLive({
            cfg,
            ...(store ? { store } : {}),
            stages,
            symbols,
            accept: symbols.length > 0 ? new Set(symbols) : null,
            stop,
            durationArg: o.duration as string | undefined,
            onFlush: (ms) => metrics.storeWrite.observe(ms / 1000),
            onPipeline: (pipeline) => metrics.watch(pipeline),
          });
        const stats = stages.includes('store') ? await withStore(cfg, run) : await run();
        process.stdout.write(
          `worker stopped: ${stats.tradesValid} trades validated, ${stats.barsClosed} bars closed, ${stats.store.tradesStored} trades stored\n`,
        );
      } finally {
        release();
      }
    });
}

/**
 * `tickline worker --pipelines`: claims task attempts from the shared run
 * history (PostgreSQL) and runs them; stands for scheduler leader, so when
 * the leader dies one of the workers takes over within two lease periods.
 */
async function pipelineWorker(
  cfg: Config,
  durationArg: string | undefined,
  metrics: Metrics,
): Promise<void> {
  const settings = runnerOf(cfg.pipelines);
  if (settings.runner !== 'postgres') {
    throw new UsageError(
      '--pipelines',
      'pipeline workers share a queue in PostgreSQL: set pipelines.runner: postgres and pipelines.postgresUrl (or TICKLINE_PG_URL)',
    );
  }
  const seconds = durationArg === undefined ? null : Number(durationArg);
  if (seconds !== null && !(seconds > 0))
    throw new UsageError('--duration', `"${durationArg}" is not a number of seconds`);
  const stop = new AbortController();
  const release = stopOnSignals(stop, 'stopping: finishing running tasks');
  try {
    await withStore(cfg, async (store) => {
      const { PipelineService } = await import('../../pipelines/pipeline-service.ts');
      const svc = await PipelineService.open({ cfg, store, schedule: true, metrics });
      process.stdout.write(
        `worker ${svc.owner}: pipeline tasks from PostgreSQL (${settings.concurrency} at once)\n`,
      );
      await new Promise<void>((resolve) => {
        stop.signal.addEventListener('abort', () => resolve(), { once: true });
        if (seconds !== null) setTimeout(resolve, seconds * 1000);
      });
      await svc.close(30_000);
      process.stdout.write(`worker ${svc.owner} stopped\n`);
    });
  } finally {
    release();
  }
}
