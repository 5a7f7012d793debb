/** `tickline gaps`: the bars each series should have by its trading calendar that are not stored. */
import type { Command } from 'commander';
import { parseChoice, parseDate, parseSymbols } from '../args.ts';
import { commandConfig, type GlobalOptions } from '../context.ts';
import { formatJson, formatTable } from '../output.ts';
import { withPipelines } from '../pipelines-access.ts';

const INTERVALS = ['1d', '1h', '30m', '15m', '5m', '1m'] as const;

export function registerGaps(program: Command): void {
  program
    .command('gaps')
    .description('expected bars (by each symbol’s trading calendar) that are not stored, as ranges')
    .option('--symbol <s>', 'only this symbol')
    .option('--interval <i>', INTERVALS.join(' | '), '1d')
    .option('--from <date>', 'first date (default: each series’ first bar)')
    .option('--to <date>', 'last date, inclusive (default: each series’ last bar)')
    .option('--format <f>', 'table | json', 'table')
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const format = parseChoice('--format', o.format, ['table', 'json'] as const, 'table');
      const interval = parseChoice('--interval', o.interval, INTERVALS, '1d');
      const symbol = o.symbol ? parseSymbols(o.symbol, '--symbol')[0]! : undefined;
      const from = o.from ? parseDate('--from', o.from) : undefined;
      const to = o.to
        ? parseDate('--to', o.to) + (/^\d{4}-\d{2}-\d{2}$/.test(o.to) ? 86_400_000 - 1 : 0)
        : undefined;
      const cfg = commandConfig(cmd.optsWithGlobals() as GlobalOptions);
      const gaps = await withPipelines(cfg, (api) =>
        api.gaps({
          interval,
          ...(symbol ? { symbol } : {}),
          ...(from !== undefined ? { from } : {}),
          ...(to !== undefined ? { to } : {}),
        }),
      );
      const iso = (ms: number): string =>
        interval === '1d'
          ? new Date(ms).toISOString().slice(0, 10)
          : new Date(ms).toISOString().replace('.000Z', 'Z');
      const rows = gaps.map((g) => ({
        ...g,
        from: iso(g.from),
        to: iso(g.to),
        reason: g.reason ?? '',
      }));
      if (format === 'json') process.stdout.write(formatJson(rows));
      else
        process.stdout.write(
          formatTable(['symbol', 'interval', 'from', 'to', 'missing', 'reason'], rows),
        );
      if (format === 'table') {
        const open = gaps.filter((g) => g.reason === null).reduce((n, g) => n + g.missing, 0);
        process.stderr.write(
          `${gaps.length} range${gaps.length === 1 ? '' : 's'}, ${open} bar${open === 1 ? '' : 's'} to fill\n`,
        );
      }
    });
}
