import type { Command } from 'commander';
import { parseChoice, parseInterval, parsePositiveInt } from '../args.ts';
import { commandConfig, type GlobalOptions, withStore } from '../context.ts';
import { formatJson, formatTable } from '../output.ts';

export function registerQuarantine(program: Command): void {
  program
    .command('quarantine')
    .description('list quarantined records with the rule they broke and their raw payload')
    .option('--rule <r>', 'only this rule')
    .option('--symbol <s>', 'only this symbol')
    .option('--interval <i>', 'only records meant for bars of this interval')
    .option('--stage <s>', 'parse | validate')
    .option('--limit <n>', 'at most this many rows', '50')
    .option('--format <f>', 'table | json', 'table')
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const limit = parsePositiveInt('--limit', o.limit, 50, 100_000);
      const format = parseChoice('--format', o.format, ['table', 'json'] as const, 'table');
      if (o.stage !== undefined)
        parseChoice('--stage', o.stage, ['parse', 'validate'] as const, 'parse');
      const interval = o.interval === undefined ? undefined : parseInterval(o.interval);
      const cfg = commandConfig(cmd.optsWithGlobals() as GlobalOptions);
      const { rows, counts } = await withStore(cfg, async (store) => ({
        rows: await store.capability('quarantine').readQuarantine({
          ...(o.rule ? { rule: o.rule } : {}),
          ...(o.symbol ? { symbol: o.symbol.toUpperCase() } : {}),
          ...(interval ? { interval } : {}),
          ...(o.stage ? { stage: o.stage } : {}),
          limit,
        }),
        counts: await store.capability('quarantine').rejectCounts(),
      }));
      if (format === 'json') {
        process.stdout.write(formatJson(rows as unknown as Record<string, unknown>[]));
        return;
      }
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      process.stdout.write(
        `quarantined: ${total}${
          total
            ? ` (${Object.entries(counts)
                .map(([r, n]) => `${r} ${n}`)
                .join(', ')})`
            : ''
        }\n`,
      );
      if (rows.length === 0) return;
      const short = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
      process.stdout.write(
        formatTable(
          ['received_at', 'stage', 'source', 'symbol', 'interval', 'rule', 'message', 'payload'],
          rows.map((r) => ({
            received_at: new Date(r.receivedAt).toISOString(),
            stage: r.stage,
            source: r.source,
            symbol: r.symbol,
            interval: r.interval ?? '',
            rule: r.rule,
            message: short(r.message, 90),
            payload: short(r.payload.replaceAll('\n', '⏎'), 80),
          })),
        ),
      );
    });
}
