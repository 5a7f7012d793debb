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
import { statusRows, statusText } from './status.ts';

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
        process.stdout.write(statusText(await statusRows(store)));
        // The newest three enriched bars of each daily series, read through the store contract.
        const cols = [
          'sma_20',
          'sma_200',
          'rsi_14',
          'macd',
          'bb_upper',
          'bb_lower',
          'atr_14',
        ] as const;
        const round = (x: number | null | undefined, d: number) =>
          x === null || x === undefined ? null : Math.round(x * 10 ** d) / 10 ** d;
        const last: Record<string, unknown>[] = [];
        for (const s of (await store.status()).filter((x) => x.interval === '1d' && x.rows > 0)) {
          const bars = await store.readEnrichedBars(
            { symbol: s.symbol, interval: '1d', order: 'desc', limit: 3 },
            cols,
          );
          for (const b of bars.reverse()) {
            const i = b.indicators;
            last.push({
              symbol: b.symbol,
              date: new Date(b.ts).toISOString().slice(0, 10),
              close: round(b.close, 2),
              sma_20: round(i.sma_20, 2),
              sma_200: round(i.sma_200, 2),
              rsi_14: round(i.rsi_14, 1),
              macd: round(i.macd, 3),
              bb_upper: round(i.bb_upper, 2),
              bb_lower: round(i.bb_lower, 2),
              atr_14: round(i.atr_14, 2),
            });
          }
        }
        process.stdout.write(
          `\nlatest enriched bars (bars_enriched):\n${formatTable(Object.keys(last[0] ?? {}), last)}`,
        );
        process.stdout.write(
          `\nnext: npx tickline query "SELECT * FROM bars_enriched WHERE symbol = 'AAPL' ORDER BY ts DESC LIMIT 5"\n`,
        );
      });
    });
}
