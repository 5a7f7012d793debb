import type { Command } from 'commander';
import { UsageError } from '../../core/errors.ts';
import { QUARANTINE_STAGES } from '../../core/records.ts';
import { ruleProblem } from '../../quality/rules.ts';
import type { RejectFilter, Store } from '../../store/store.ts';
import { parseChoice, parseDate, parseInterval, parsePositiveInt, parseSymbols } from '../args.ts';
import { commandConfig, type GlobalOptions, withStore } from '../context.ts';
import { formatJson, formatTable } from '../output.ts';

export function registerQuarantine(program: Command): void {
  program
    .command('quarantine')
    .description('list quarantined records with the rule they broke and their raw payload')
    .option('--rule <r>', 'only this rule')
    .option('--symbol <s>', 'only this symbol')
    .option('--interval <i>', 'only records meant for bars of this interval')
    .option('--stage <s>', QUARANTINE_STAGES.join(' | '))
    .option('--from <t>', 'received at or after (YYYY-MM-DD, ISO 8601 or epoch milliseconds)')
    .option('--to <t>', 'received before')
    .option('--limit <n>', 'at most this many rows', '50')
    .option('--format <f>', 'table | json', 'table')
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const limit = parsePositiveInt('--limit', o.limit, 50, 100_000);
      const format = parseChoice('--format', o.format, ['table', 'json'] as const, 'table');
      const stage =
        o.stage === undefined
          ? undefined
          : parseChoice('--stage', o.stage, QUARANTINE_STAGES, 'parse');
      const interval = o.interval === undefined ? undefined : parseInterval(o.interval);
      const symbol = o.symbol === undefined ? undefined : parseSymbols(o.symbol, '--symbol')[0];
      const from = o.from === undefined ? undefined : parseDate('--from', o.from);
      const to = o.to === undefined ? undefined : parseDate('--to', o.to);
      const filter = { rule: o.rule, symbol, interval, stage, from, to };
      const cfg = commandConfig(cmd.optsWithGlobals() as GlobalOptions);
      const { rows, counts, matching } = await withStore(cfg, async (store) => {
        const q = store.capability('quarantine');
        const counts = await q.rejectCounts();
        // An unknown rule is refused like any bad flag (exit 2), not answered with nothing.
        const bad = o.rule === undefined ? null : ruleProblem(o.rule, Object.keys(counts));
        if (bad) throw new UsageError('--rule', bad);
        const rows = await q.readQuarantine({
          ...(o.rule ? { rule: o.rule } : {}),
          ...(symbol ? { symbol } : {}),
          ...(interval ? { interval } : {}),
          ...(stage ? { stage } : {}),
          ...(from !== undefined ? { from } : {}),
          ...(to !== undefined ? { to } : {}),
          limit,
        });
        const filtered = Object.values(filter).some((v) => v !== undefined);
        const matching = !filtered
          ? counts
          : await matchingCounts(store, filter, rows.length < limit ? rows : null);
        return { rows, counts, matching };
      });
      if (format === 'json') {
        process.stdout.write(formatJson(rows as unknown as Record<string, unknown>[]));
        return;
      }
      const sum = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
      const byRule = (c: Record<string, number>) =>
        sum(c)
          ? ` (${Object.entries(c)
              .map(([r, n]) => `${r} ${n}`)
              .join(', ')})`
          : '';
      const flags = Object.entries({ ...o, limit: undefined, format: undefined })
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `--${k} ${v}`)
        .join(' ');
      process.stdout.write(
        flags
          ? `quarantined: ${sum(matching)} matching ${flags}, of ${sum(counts)} in all${byRule(matching)}\n`
          : `quarantined: ${sum(counts)}${byRule(counts)}\n`,
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

/**
 * Rejects per rule that match a filter: counted from the rows when they are
 * all there, else by the store's histogram (one bucket over all time).
 */
async function matchingCounts(
  store: Store,
  f: RejectFilter,
  allRows: readonly { rule: string }[] | null,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  if (allRows) {
    for (const r of allRows) out[r.rule] = (out[r.rule] ?? 0) + 1;
    return out;
  }
  for (const p of await store.capability('analytics').rejectHistogram(2 ** 52, f)) {
    out[p.rule] = (out[p.rule] ?? 0) + p.n;
  }
  return out;
}
