import type { Command } from 'commander';
import { UsageError } from '../../core/errors.ts';
import { ingest } from '../../pipelines/ingest.ts';
import type { Source } from '../../sources/source.ts';
import { StooqSource } from '../../sources/stooq/stooq-source.ts';
import { YahooSource } from '../../sources/yahoo/yahoo-source.ts';
import { parseChoice, parseInterval, parsePositiveInt, parseRange, parseSymbols } from '../args.ts';
import { commandConfig, type GlobalOptions, withStore } from '../context.ts';
import { progressBar } from '../output.ts';
import { ingestReport } from '../report.ts';

const SOURCES = ['yahoo', 'stooq'] as const;

export function registerBackfill(program: Command): void {
  program
    .command('backfill')
    .description('fetch historical bars for symbols from a provider, validate and store them')
    .option('--source <name>', `provider: ${SOURCES.join(' | ')}`, 'yahoo')
    .option('--symbols <list>', 'comma-separated symbols, e.g. AAPL,MSFT')
    .option('--from <date>', 'first day (YYYY-MM-DD)')
    .option('--to <date>', 'last day, inclusive (default: now)')
    .option('--interval <i>', 'bar interval: 1m 5m 15m 30m 1h 1d 1wk 1mo', '1d')
    .option('--concurrency <n>', 'symbols fetched at once', '4')
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const name = parseChoice('--source', o.source, SOURCES, 'yahoo');
      const symbols = parseSymbols(o.symbols);
      const concurrency = parsePositiveInt('--concurrency', o.concurrency, 4, 64);
      const cfg = commandConfig(global);
      const retry = cfg.http;
      const source: Source =
        name === 'yahoo'
          ? new YahooSource({ baseUrl: cfg.sources.yahoo.baseUrl, retry })
          : new StooqSource({ baseUrl: cfg.sources.stooq.baseUrl, retry });
      const interval = parseInterval(o.interval, source.intervals);
      const { from, to } = parseRange(o.from, o.to, Date.now(), interval);
      if (name === 'stooq' && interval !== '1d') {
        throw new UsageError('--interval', 'stooq serves daily bars only (1d)');
      }
      // Ctrl-C stops fetching; what was fetched is still stored. A second Ctrl-C exits at once.
      const stop = new AbortController();
      const onSignal = (): void => {
        if (stop.signal.aborted) process.exit(130);
        process.stderr.write(
          '\ninterrupted: storing what was fetched (Ctrl-C again to quit now)\n',
        );
        stop.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const summary = await withStore(cfg, async (store) => {
        const bar = progressBar(
          symbols.length,
          ' {bar} {value}/{total} symbols | {rows} rows | {rejects} rejects | {failed} failed',
          { rows: 0, rejects: 0, failed: 0 },
        );
        try {
          return await ingest(
            symbols.map((symbol) => ({ source, request: { symbol, interval, from, to } })),
            {
              store,
              quality: cfg.quality,
              concurrency,
              signal: stop.signal,
              onProgress: (p) =>
                bar.update({ rows: p.rows, rejects: p.rejects, failed: p.failed }, p.symbolsDone),
            },
          );
        } finally {
          bar.stop();
        }
      });
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.stdout.write(ingestReport(summary));
      if (summary.interrupted) {
        process.stdout.write(
          'interrupted: the bars fetched so far are stored; run the same command again to finish\n',
        );
        process.exitCode = 130;
      } else if (summary.failed.length > 0) process.exitCode = 2;
    });
}
