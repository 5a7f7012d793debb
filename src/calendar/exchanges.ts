/**
 * The exchanges tickline knows: NYSE (XNYS), London (XLON), Xetra (XETR),
 * and an always-open calendar for crypto. Regular holidays are rules; the
 * closures and early closes the exchanges announced for one occasion
 * (national days of mourning, storms, jubilees) are listed by date, from
 * the exchanges' published histories (NYSE's closings list, LSE notices).
 * test/calendar checks every session since 1990 against those histories.
 */
import type { ExchangeRules } from './calendar.ts';
import {
  dayOf,
  easter,
  nearestWorkday,
  nthWeekday,
  parseIsoDay,
  previousFriday,
  previousWorkday,
  weekday,
} from './dates.ts';

const MON = 1;
const THU = 4;
const hm = (h: number, m = 0): number => h * 60 + m;
const days = (list: string[]): number[] => list.map((d) => parseIsoDay(d)!);
const inYear = (list: number[], year: number): number[] =>
  list.filter((d) => d >= dayOf(year, 1, 1) && d < dayOf(year + 1, 1, 1));

/** NYSE closures for one occasion since 1990 (deaths of presidents, 9/11, storms). */
const NYSE_ADHOC = days([
  '1994-04-27', // Richard Nixon
  '2001-09-11',
  '2001-09-12',
  '2001-09-13',
  '2001-09-14', // September 11
  '2004-06-11', // Ronald Reagan
  '2007-01-02', // Gerald Ford
  '2012-10-29',
  '2012-10-30', // Hurricane Sandy
  '2018-12-05', // George H. W. Bush
  '2025-01-09', // Jimmy Carter
]);
const NYSE_ADHOC_EARLY = days(['1997-12-26', '1999-12-31', '2003-12-26']);

export const XNYS: ExchangeRules = {
  name: 'XNYS',
  title: 'New York Stock Exchange',
  timeZone: 'America/New_York',
  openMinutes: hm(9, 30),
  closeMinutes: hm(16),
  closures(year) {
    const out = [
      ...inYear(NYSE_ADHOC, year),
      nthWeekday(year, 2, MON, 3), // Washington's Birthday
      easter(year) - 2, // Good Friday
      nthWeekday(year, 5, MON, -1), // Memorial Day
      nearestWorkday(dayOf(year, 7, 4)),
      nthWeekday(year, 9, MON, 1), // Labor Day
      nthWeekday(year, 11, THU, 4), // Thanksgiving
      nearestWorkday(dayOf(year, 12, 25)),
    ];
    // New Year's Day: a Sunday moves to Monday; a Saturday is not made up.
    const ny = dayOf(year, 1, 1);
    if (weekday(ny) === 0) out.push(ny + 1);
    else if (weekday(ny) !== 6) out.push(ny);
    if (year >= 1998) out.push(nthWeekday(year, 1, MON, 3)); // Martin Luther King Jr. Day
    if (year >= 2022) out.push(nearestWorkday(dayOf(year, 6, 19))); // Juneteenth
    return out;
  },
  earlyCloses(year) {
    const out = new Map<number, number>();
    const early = year >= 1993 ? hm(13) : hm(14);
    const july3 = dayOf(year, 7, 3);
    const july5 = dayOf(year, 7, 5);
    if (year >= 1995 && [1, 2, 4].includes(weekday(july3))) out.set(july3, early);
    if (year >= 1995 && year < 2013 && weekday(july5) === 5) out.set(july5, early);
    if (year >= 2013 && weekday(july3) === 3) out.set(july3, early);
    if (year >= 1992) out.set(nthWeekday(year, 11, THU, 4) + 1, early); // the day after Thanksgiving
    const eve = dayOf(year, 12, 24);
    if (weekday(eve) >= 1 && weekday(eve) <= 4) out.set(eve, early);
    for (const d of inYear(NYSE_ADHOC_EARLY, year)) out.set(d, hm(13));
    return out;
  },
};

/** London closures for one occasion since 1990 (jubilees, royal events, VE Day anniversaries). */
const LSE_ADHOC = days([
  '1995-05-08', // VE Day, 50th anniversary (instead of the early May bank holiday)
  '1999-12-31', // the eve of the millennium
  '2002-06-03',
  '2002-06-04', // Golden Jubilee (instead of the spring bank holiday)
  '2011-04-29', // royal wedding
  '2012-06-04',
  '2012-06-05', // Diamond Jubilee
  '2020-05-08', // VE Day, 75th anniversary (instead of the early May bank holiday)
  '2022-06-02',
  '2022-06-03', // Platinum Jubilee
  '2022-09-19', // the Queen's funeral
  '2023-05-08', // the King's coronation
]);

export const XLON: ExchangeRules = {
  name: 'XLON',
  title: 'London Stock Exchange',
  timeZone: 'Europe/London',
  openMinutes: hm(8),
  closeMinutes: hm(16, 30),
  closures(year) {
    const out = [...inYear(LSE_ADHOC, year), easter(year) - 2, easter(year) + 1];
    const ny = dayOf(year, 1, 1);
    out.push(weekday(ny) === 6 ? ny + 2 : weekday(ny) === 0 ? ny + 1 : ny);
    // Early May and spring bank holidays, except the years they were moved to an occasion.
    if (year !== 1995 && year !== 2020) out.push(nthWeekday(year, 5, MON, 1));
    if (year !== 2002 && year !== 2012 && year !== 2022) out.push(nthWeekday(year, 5, MON, -1));
    out.push(nthWeekday(year, 8, MON, -1)); // summer bank holiday
    // Christmas and Boxing Day; one on a weekend moves to the next free weekday.
    const xmas = dayOf(year, 12, 25);
    for (const d of [xmas, xmas + 1]) if (weekday(d) >= 1 && weekday(d) <= 5) out.push(d);
    for (const d of [xmas + 2, xmas + 3]) if (weekday(d) === 1 || weekday(d) === 2) out.push(d);
    return out;
  },
  earlyCloses(year) {
    const out = new Map<number, number>();
    out.set(previousFriday(dayOf(year, 12, 24)), hm(12, 30));
    if (year !== 1999) out.set(previousFriday(dayOf(year, 12, 31)), hm(12, 30));
    return out;
  },
};

export const XETR: ExchangeRules = {
  name: 'XETR',
  title: 'Xetra (Deutsche Börse)',
  timeZone: 'Europe/Berlin',
  openMinutes: hm(9),
  closeMinutes: hm(17, 30),
  closures(year) {
    const e = easter(year);
    const out = [dayOf(year, 1, 1), e - 2, e + 1, dayOf(year, 5, 1)];
    for (const d of [24, 25, 26, 31]) out.push(dayOf(year, 12, d));
    if (year >= 2015 && year <= 2021) out.push(e + 50); // Whit Monday
    if (year === 2007) out.push(dayOf(2007, 5, 28)); // Whit Monday 2007
    if (year >= 2014 && year <= 2021) out.push(dayOf(year, 10, 3)); // Day of German Unity
    if (year === 2017) out.push(dayOf(2017, 10, 31)); // Reformation Day, 500th anniversary
    return out;
  },
  earlyCloses(year) {
    const out = new Map<number, number>();
    // The last trading day before New Year's Eve closes at 14:00.
    if (year >= 2010) out.set(previousWorkday(dayOf(year, 12, 31)), hm(14));
    return out;
  },
};

/** Crypto: one session per UTC day, 00:00 to 24:00, every day. */
export const ALWAYS_OPEN: ExchangeRules = {
  name: '24/7',
  title: 'always open (crypto)',
  timeZone: 'UTC',
  openMinutes: 0,
  closeMinutes: 24 * 60,
  alwaysOpen: true,
  closures: () => [],
  earlyCloses: () => new Map(),
};

export const EXCHANGES: Record<string, ExchangeRules> = {
  XNYS,
  XLON,
  XETR,
  '24/7': ALWAYS_OPEN,
};
