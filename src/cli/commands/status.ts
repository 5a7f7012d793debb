import type { Command } from 'commander';
import { formatTs } from '../../core/time.ts';
import type { Store } from '../../store/store.ts';
import { parseChoice } from '../args.ts';
import { commandConfig, type GlobalOptions, withStore } from '../context.ts';
import { formatJson, formatTable } from '../output.ts';

export async function statusRows(store: Store): Promise<Record<string, unknown>[]> {
  return (await store.status()).map((s) => ({
    symbol: s.symbol,
    interval: s.interval,
    rows: s.rows,
    first: Number.isFinite(s.firstTs) ? formatTs(s.firstTs, s.interval) : '',
    last: Number.isFinite(s.lastTs) ? formatTs(s.lastTs, s.interval) : '',
    rejects: s.rejects,
  }));
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('per symbol and interval: rows, first and last ts, rejects')
    .option('--format <f>', 'table | json', 'table')
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const format = parseChoice('--format', o.format, ['table', 'json'] as const, 'table');
      const cfg = commandConfig(cmd.optsWithGlobals() as GlobalOptions);
      const rows = await withStore(cfg, statusRows);
      if (format === 'json') process.stdout.write(formatJson(rows));
      else if (rows.length === 0)
        process.stdout.write(
          'the store is empty: run `tickline demo`, `tickline backfill` or `tickline import`\n',
        );
      else
        process.stdout.write(
          formatTable(['symbol', 'interval', 'rows', 'first', 'last', 'rejects'], rows),
        );
    });
}
