import type { Command } from 'commander';
import { formatTs } from '../../core/time.ts';
import { type Store, statusKind, TRADES_ROW } from '../../store/store.ts';
import { parseChoice } from '../args.ts';
import { commandConfig, type GlobalOptions, withStore } from '../context.ts';
import { formatJson, formatTable } from '../output.ts';

/** The stored series (bars, and each symbol's trades as interval "trades"), then rejects-only rows. */
export async function statusRows(
  store: Store,
): Promise<{ stored: Record<string, unknown>[]; rejectedOnly: Record<string, unknown>[] }> {
  const all = await store.status();
  const stored = all
    .filter((s) => statusKind(s) !== 'rejects')
    .map((s) => {
      const interval = s.interval === TRADES_ROW ? 'trades' : s.interval;
      return {
        symbol: s.symbol,
        interval,
        kind: statusKind(s),
        rows: s.rows,
        first: Number.isFinite(s.firstTs) ? formatTs(s.firstTs, s.interval) : '',
        last: Number.isFinite(s.lastTs) ? formatTs(s.lastTs, s.interval) : '',
        rejects: s.rejects,
      };
    });
  const rejectedOnly = all
    .filter((s) => statusKind(s) === 'rejects')
    .map((s) => ({
      symbol: s.symbol === '(none)' ? '(no symbol: malformed)' : s.symbol,
      interval: s.interval === TRADES_ROW ? 'trades' : s.interval,
      kind: 'rejects',
      rows: 0,
      rejects: s.rejects,
    }));
  return { stored, rejectedOnly };
}

/** The status tables as text: what is stored, then the symbols that only have rejects. */
export function statusText(r: Awaited<ReturnType<typeof statusRows>>): string {
  if (r.stored.length === 0 && r.rejectedOnly.length === 0) {
    return 'the store is empty: run `tickline demo`, `tickline backfill` or `tickline import`\n';
  }
  let out = r.stored.length
    ? formatTable(['symbol', 'interval', 'rows', 'first', 'last', 'rejects'], r.stored)
    : 'nothing stored yet\n';
  if (r.rejectedOnly.length) {
    out += `\nrejected, nothing stored (tickline quarantine --symbol …):\n${formatTable(['symbol', 'interval', 'rejects'], r.rejectedOnly)}`;
  }
  return out;
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
      if (format === 'json')
        process.stdout.write(formatJson([...rows.stored, ...rows.rejectedOnly]));
      else process.stdout.write(statusText(rows));
    });
}
