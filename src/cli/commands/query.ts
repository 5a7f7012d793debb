import type { Command } from 'commander';
import { isBarSeries } from '../../store/store.ts';
import { parseChoice } from '../args.ts';
import { commandConfig, type GlobalOptions, withStore } from '../context.ts';
import { formatCsv, formatJson, formatTable } from '../output.ts';

export function registerQuery(program: Command): void {
  program
    .command('query')
    .description(
      'run SQL against the store (tables: bars, bars_enriched, quarantine, corporate_actions, instruments, raw_responses)',
    )
    .argument('<sql>', 'the SQL (one SELECT unless --write)')
    .option('--format <f>', 'table | csv | json', 'table')
    .option(
      '--write',
      'allow SQL that changes the store (then every series’ indicators are recomputed)',
    )
    .action(async (sql: string, o: Record<string, string | boolean | undefined>, cmd: Command) => {
      const format = parseChoice(
        '--format',
        o.format as string | undefined,
        ['table', 'csv', 'json'] as const,
        'table',
      );
      const write = o.write === true;
      const cfg = commandConfig(cmd.optsWithGlobals() as GlobalOptions);
      const { res, refreshed } = await withStore(cfg, async (store) => {
        const res = await store.capability('sql').sql(sql, { readOnly: !write });
        if (!write || res.wrote === false) return { res, refreshed: null };
        // What the SQL changed may be any bar: the indicators are recomputed from the bars.
        const series = (await store.status()).filter(isBarSeries);
        await store.refreshCurated(series.map((s) => ({ symbol: s.symbol, interval: s.interval })));
        return { res, refreshed: series.length };
      });
      const out =
        format === 'json'
          ? formatJson(res.rows)
          : format === 'csv'
            ? formatCsv(res.columns, res.rows)
            : formatTable(res.columns, res.rows);
      process.stdout.write(out);
      if (refreshed !== null) {
        process.stderr.write(`tickline: indicators recomputed for ${refreshed} series\n`);
      }
    });
}
