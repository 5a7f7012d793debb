/**
 * `tickline up`: everything on the embedded defaults. It loads the bundled
 * real history on first start, then runs the live path until stopped: the
 * Finnhub feed when FINNHUB_TOKEN is set, the simulator otherwise. (The API
 * server and dashboard join this command when they land.)
 */
import type { Command } from 'commander';
import { databasePath } from '../../core/config.ts';
import { parseSymbols } from '../args.ts';
import { commandConfig, type GlobalOptions, withStore } from '../context.ts';
import { liveSourceFromFlags, stopOnSignals } from '../live.ts';
import { runLive } from '../live-run.ts';
import { loadDemoHistory } from './demo.ts';

const DEFAULT_SYMBOLS = 'AAPL,MSFT,NVDA,TSLA,SPY';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description(
      'load the bundled history (first start) and run the live path: Finnhub with FINNHUB_TOKEN, else the simulator',
    )
    .option('--symbols <list>', 'live symbols', DEFAULT_SYMBOLS)
    .option('--rate <n>', 'simulator: trades per second', '50')
    .option('--fault-rate <x>', 'simulator: fraction of bad records injected', '0.002')
    .option('--duration <s>', 'stop (and drain) after this many seconds')
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const cfg = commandConfig(cmd.optsWithGlobals() as GlobalOptions);
      const symbols = parseSymbols(o.symbols);
      const finnhub = Boolean(process.env.FINNHUB_TOKEN);
      const { source } = liveSourceFromFlags(
        { ...o, source: finnhub ? 'finnhub' : 'simulator', seed: String(Date.now() % 2 ** 31) },
        cfg,
      );
      const stop = new AbortController();
      const release = stopOnSignals(stop, 'draining: storing what was received');
      try {
        await withStore(cfg, async (store) => {
          const stored = await store.status();
          if (!stored.some((s) => s.interval === '1d')) {
            const summary = await loadDemoHistory(store, cfg.quality);
            process.stdout.write(`loaded the bundled history: ${summary.rows} daily bars\n`);
          }
          process.stdout.write(
            `live: ${finnhub ? 'Finnhub' : 'simulator (set FINNHUB_TOKEN for the Finnhub feed)'} → ${symbols.join(', ')}; storing into ${databasePath(cfg)}; Ctrl-C stops\n`,
          );
          const stats = await runLive({
            cfg,
            store,
            source,
            symbols,
            accept: new Set(symbols),
            stop,
            durationArg: o.duration,
          });
          process.stdout.write(
            `stopped: ${stats.store.tradesStored} new trades and ${stats.barsClosed} bars stored\n`,
          );
        });
      } finally {
        release();
      }
    });
}
