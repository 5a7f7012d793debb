/**
 * `tickline stream`: runs the live path (source → log → quality → bars →
 * store) until stopped. SIGINT/SIGTERM drain it: everything received
 * before the signal is stored. On a terminal a status line shows trades/s,
 * bars, rejects and lag.
 */
import type { Command } from 'commander';
import { storeLocation } from '../../core/config.ts';
import { UsageError } from '../../core/errors.ts';
import { STREAM_STAGES } from '../../pipelines/stream.ts';
import type { Store } from '../../store/store.ts';
import { parseSymbols } from '../args.ts';
import { commandConfig, type GlobalOptions, withStore } from '../context.ts';
import {
  liveSourceFromFlags,
  liveSourceOptions,
  startSimulatorFromStore,
  stopOnSignals,
} from '../live.ts';
import { applyLogFlag, parseStages, runLive } from '../live-run.ts';

export function registerStream(program: Command): void {
  liveSourceOptions(
    program
      .command('stream')
      .description('run the live path: trades → validation → 1s/1m/5m bars → store, until stopped'),
    'simulator',
  )
    .option('--duration <s>', 'stop (and drain) after this many seconds')
    .option(
      '--log <kind>',
      'the log between stages: memory | kafka (default: the config’s log.kind)',
    )
    .option(
      '--stages <list>',
      'stages run here: ingest,process,store (over Kafka, e.g. only ingest, with workers doing the rest)',
    )
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const cfg = commandConfig(global);
      applyLogFlag(cfg, o.log);
      const stages = parseStages(o.stages, STREAM_STAGES);
      if (!stages.includes('ingest')) {
        throw new UsageError(
          '--stages',
          'stream runs the ingest stage; use tickline worker for the others alone',
        );
      }
      const { name, source } = liveSourceFromFlags(o, cfg);
      // A recording holds its own symbols: without --symbols replay takes what it holds
      // (each still held to the symbol grammar); with it, only those.
      const symbols = name === 'replay' && o.symbols === undefined ? [] : parseSymbols(o.symbols);
      const stop = new AbortController();
      const release = stopOnSignals(stop, 'draining: storing what was received');
      try {
        const run = (store?: Store) => {
          if (store) {
            startSimulatorFromStore(source, store, symbols, (line) =>
              process.stderr.write(`tickline: ${line}\n`),
            );
          }
          return runLive({
            cfg,
            ...(store ? { store } : {}),
            source,
            stages,
            symbols,
            accept: symbols.length === 0 ? null : new Set(symbols),
            stop,
            durationArg: o.duration,
          });
        };
        const stats = stages.includes('store') ? await withStore(cfg, run) : await run();
        if (!stages.includes('store')) {
          process.stdout.write(
            `published to ${cfg.log.kind}: ${stats.tradesIn} trades from ${stats.messages} messages\n`,
          );
          return;
        }
        process.stdout.write(
          `stored into ${storeLocation(cfg)}: ${stats.store.tradesStored} new trades, ${stats.barsClosed} bars closed (${stats.corrections} corrections), ${Object.values(stats.rejectsByRule).reduce((a, b) => a + b, 0)} rejects, ${stats.duplicates} duplicates dropped\n`,
        );
        for (const [rule, n] of Object.entries(stats.rejectsByRule).sort()) {
          process.stdout.write(`  ${rule}: ${n}\n`);
        }
      } finally {
        release();
      }
    });
}
