import type { Command } from 'commander';
import { parseChoice } from '../args.ts';
import { commandConfig, type GlobalOptions, withStore } from '../context.ts';
import { formatCsv, formatJson, formatTable } from '../output.ts';

export function registerQuery(program: Command): void {
  program
    .command('query')
    .description(
      'run SQL against the store (tables: bars, bars_enriched, quarantine, corporate_actions, instruments, raw_responses)',
    )
    .argument('<sql>', 'one SQL statement')
    .option('--format <f>', 'table | csv | json', 'table')
    .action(async (sql: string, o: Record<string, string | undefined>, cmd: Command) => {
      const format = parseChoice('--format', o.format, ['table', 'csv', 'json'] as const, 'table');
      const cfg = commandConfig(cmd.optsWithGlobals() as GlobalOptions);
      const res = await withStore(cfg, (store) => store.capability('sql').sql(sql));
      const out =
        format === 'json'
          ? formatJson(res.rows)
          : format === 'csv'
            ? formatCsv(res.columns, res.rows)
            : formatTable(res.columns, res.rows);
      process.stdout.write(out);
    });
}
