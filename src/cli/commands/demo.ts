/**
 * `tickline demo`: loads bundled real history through the csv source (no
 * network, no key) and prints the status and a few enriched bars.
 * - vega-datasets data/sp500-2000.csv: S&P 500 daily 2000-01-03..2020-04-17 (BSD-3-Clause)
 * - @observablehq/sample-datasets aapl.csv: AAPL daily 2013-05-13..2018-05-11 (ISC)
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../../core/config.ts';
import { type IngestSummary, ingest } from '../../pipelines/ingest.ts';
import { CsvSource } from '../../sources/csv/csv-source.ts';
import type { Store } from '../../store/store.ts';
import { commandConfig, type GlobalOptions, withStore } from '../context.ts';
import { formatTable } from '../output.ts';
import { ingestReport } from '../report.ts';
import { statusRows } from './status.ts';

/** The bundled datasets: file path and the symbol stored for it. */
export function demoDatasets(): { symbol: string; file: string }[] {
  const require = createRequire(import.meta.url);
  // vega-datasets only exports its JS entry (build/index.js); its data/ folder sits beside build/.
  const vega = dirname(dirname(require.resolve('vega-datasets')));
  return [
    { symbol: 'SPX', file: join(vega, 'data', 'sp500-2000.csv') },
    { symbol: 'AAPL', file: require.resolve('@observablehq/sample-datasets/aapl.csv') },
  ];
}

/** Loads the bundled datasets (idempotent: a second load changes nothing). */
export function loadDemoHistory(store: Store, quality: Config['quality']): Promise<IngestSummary> {
  const tasks = demoDatasets().map((d) => ({
    source: new CsvSource({ file: d.file }),
    request: { symbol: d.symbol, interval: '1d' as const, from: -8.64e15, to: 8.64e15 },
  }));
  return ingest(tasks, { store, quality });
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'load bundled real daily history (S&P 500 2000–2020, AAPL 2013–2018) and show it enriched',
    )
    .action(async (_o: unknown, cmd: Command) => {
      const cfg = commandConfig(cmd.optsWithGlobals() as GlobalOptions);
      await withStore(cfg, async (store) => {
        const summary = await loadDemoHistory(store, cfg.quality);
        process.stdout.write(
          `loaded bundled history into ${cfg.dataDir}\n${ingestReport(summary)}\n`,
        );
        process.stdout.write(
          formatTable(
            ['symbol', 'interval', 'rows', 'first', 'last', 'rejects'],
            await statusRows(store),
          ),
        );
        const last = await store.capability('sql').sql(`
          SELECT symbol, strftime(ts, '%Y-%m-%d') AS date, round(close, 2) AS close, round(sma_20, 2) AS sma_20,
            round(sma_200, 2) AS sma_200, round(rsi_14, 1) AS rsi_14, round(macd, 3) AS macd,
            round(bb_upper, 2) AS bb_upper, round(bb_lower, 2) AS bb_lower, round(atr_14, 2) AS atr_14
          FROM (SELECT *, row_number() OVER (PARTITION BY symbol ORDER BY ts DESC) AS k FROM bars_enriched)
          WHERE k <= 3 ORDER BY symbol, date`);
        process.stdout.write(
          `\nlatest enriched bars (bars_enriched):\n${formatTable(last.columns, last.rows)}`,
        );
        process.stdout.write(
          `\nnext: npx tickline query "SELECT * FROM bars_enriched WHERE symbol = 'AAPL' ORDER BY ts DESC LIMIT 5"\n`,
        );
      });
    });
}
