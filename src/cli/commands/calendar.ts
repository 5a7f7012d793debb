/** `tickline calendar NAME`: an exchange's sessions (date, open and close in UTC). */
import type { Command } from 'commander';
import { lastYear } from '../../calendar/calendar.ts';
import { parseIsoDay } from '../../calendar/dates.ts';
import { CALENDAR_NAMES, findCalendar } from '../../calendar/registry.ts';
import { UsageError } from '../../core/errors.ts';
import { parseChoice } from '../args.ts';
import { formatJson, formatTable } from '../output.ts';

const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

function dayArg(flag: string, value: string): number {
  const day = parseIsoDay(value);
  if (day === null) throw new UsageError(flag, `"${value}" is not a date; expected YYYY-MM-DD`);
  return day;
}

export function registerCalendar(program: Command): void {
  program
    .command('calendar <name>')
    .description(
      `an exchange's trading sessions, open and close in UTC (${CALENDAR_NAMES.join(', ')})`,
    )
    .option('--from <date>', 'first date (YYYY-MM-DD; default: the start of this year)')
    .option('--to <date>', 'last date, inclusive (default: the end of this year)')
    .option('--format <f>', 'table | json', 'table')
    .action((name: string, o: Record<string, string | undefined>) => {
      const cal = findCalendar(name);
      if (!cal) {
        throw new UsageError(
          'name',
          `no calendar "${name}"; expected one of ${CALENDAR_NAMES.join(', ')}`,
        );
      }
      const format = parseChoice('--format', o.format, ['table', 'json'] as const, 'table');
      const year = new Date().getUTCFullYear();
      const from = o.from ? dayArg('--from', o.from) : Date.UTC(year, 0, 1) / 86_400_000;
      const to = o.to ? dayArg('--to', o.to) : Date.UTC(year, 11, 31) / 86_400_000;
      if (to < from) throw new UsageError('--to', `${o.to} is before --from ${o.from}`);
      if (to > cal.lastDay || from < cal.firstDay) {
        throw new UsageError(
          to > cal.lastDay ? '--to' : '--from',
          `the calendars cover 1990-01-01 to ${lastYear()}-12-31`,
        );
      }
      const rows = cal.sessions(from, to).map((s) => ({
        date: s.date,
        open: iso(s.open),
        close: iso(s.close),
        ...(format === 'table' && s.early ? { note: 'early close' } : {}),
      }));
      process.stdout.write(
        format === 'json' ? formatJson(rows) : formatTable(['date', 'open', 'close', 'note'], rows),
      );
    });
}
