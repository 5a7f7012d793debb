/**
 * Must-show: `tickline calendar` over 1990–2023 equals the exchanges' own
 * session histories (every session, open and close in UTC, early closes and
 * the closures the exchanges announced for one occasion). The reference
 * files are exchange_calendars' test resources (test/fixtures/README.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TradingCalendar } from '../../src/calendar/calendar.ts';
import { parseIsoDay } from '../../src/calendar/dates.ts';
import { XETR } from '../../src/calendar/exchanges.ts';
import { ROOT, runCli } from '../helpers/cli.ts';

interface Row {
  date: string;
  open: string;
  close: string;
}

/** The published history: one row per session, as date, open and close. */
function reference(name: string): Row[] {
  const text = readFileSync(join(ROOT, 'test', 'fixtures', 'calendars', `${name}.csv`), 'utf8');
  return text
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const [date, open, close] = line.split(',');
      return { date: date!.slice(0, 10), open: open!, close: close! };
    });
}

describe('trading calendars against the exchanges’ history', () => {
  for (const name of ['XNYS', 'XLON']) {
    it(`tickline calendar ${name} prints every session since 1990 as the exchange had it`, async () => {
      const ref = reference(name.toLowerCase());
      const r = await runCli([
        'calendar',
        name,
        '--from',
        '1990-01-01',
        '--to',
        ref.at(-1)!.date,
        '--format',
        'json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const ours = JSON.parse(r.stdout) as Row[];
      expect(ours.length).toBe(ref.length);
      expect(ours).toEqual(ref);
    });
  }

  it('XETR matches its history too', () => {
    const ref = reference('xetr');
    const cal = new TradingCalendar(XETR);
    const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
    const ours = cal
      .sessions(parseIsoDay('1990-01-01')!, parseIsoDay(ref.at(-1)!.date)!)
      .map((s) => ({ date: s.date, open: iso(s.open), close: iso(s.close) }));
    expect(ours).toEqual(ref);
  });

  it('names the closures the issue lists, and the early closes, in the table', async () => {
    const r = await runCli(['calendar', 'XNYS', '--from', '2001-09-10', '--to', '2001-09-17']);
    expect(r.stdout).toContain('2001-09-10');
    expect(r.stdout).not.toMatch(/2001-09-1[1-4]/);
    const early = await runCli(['calendar', 'XNYS', '--from', '2025-07-03', '--to', '2025-07-03']);
    expect(early.stdout).toMatch(
      /2025-07-03 +2025-07-03T13:30:00Z +2025-07-03T17:00:00Z +early close/,
    );
  });

  it('refuses an unknown calendar, a bad date and a year it does not cover, naming each', async () => {
    const unknown = await runCli(['calendar', 'XTKS']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no calendar "XTKS"; expected one of XNYS, XLON, XETR, 24\/7/);
    const bad = await runCli(['calendar', 'XNYS', '--from', '2024-02-30']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--from: "2024-02-30" is not a date/);
    const far = await runCli(['calendar', 'XNYS', '--from', '1980-01-01', '--to', '1980-12-31']);
    expect(far.code).toBe(2);
    expect(far.stderr).toMatch(/--from: the calendars cover 1990-01-01/);
  });
});
