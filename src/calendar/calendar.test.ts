import { describe, expect, it } from 'vitest';
import { TradingCalendar } from './calendar.ts';
import { DAY_MS, parseIsoDay } from './dates.ts';
import { ALWAYS_OPEN, XLON, XNYS } from './exchanges.ts';
import { CalendarResolver } from './registry.ts';

const nyse = new TradingCalendar(XNYS);
const lse = new TradingCalendar(XLON);
const at = (iso: string): number => Date.parse(iso);
const day = (iso: string): number => parseIsoDay(iso)!;

describe('TradingCalendar', () => {
  it('follows each zone’s own daylight-saving dates', () => {
    // 2023-03-13: New York is on summer time (since 03-12), London not yet (03-26).
    expect(new Date(nyse.session(day('2023-03-13'))!.open).toISOString()).toBe(
      '2023-03-13T13:30:00.000Z',
    );
    expect(new Date(lse.session(day('2023-03-13'))!.open).toISOString()).toBe(
      '2023-03-13T08:00:00.000Z',
    );
    expect(new Date(lse.session(day('2023-03-27'))!.open).toISOString()).toBe(
      '2023-03-27T07:00:00.000Z',
    );
    // 2023-11-01: London back on GMT (10-29), New York not yet (11-05).
    expect(new Date(nyse.session(day('2023-11-01'))!.close).toISOString()).toBe(
      '2023-11-01T20:00:00.000Z',
    );
    expect(new Date(lse.session(day('2023-11-01'))!.open).toISOString()).toBe(
      '2023-11-01T08:00:00.000Z',
    );
  });

  it('knows when the exchange is open, and the sessions before and after an instant', () => {
    expect(nyse.isOpen(at('2025-01-08T15:00:00Z'))).toBe(true);
    expect(nyse.isOpen(at('2025-01-09T15:00:00Z'))).toBe(false); // Jimmy Carter's day of mourning
    expect(nyse.isOpen(at('2025-01-08T21:00:00Z'))).toBe(false); // the close itself is closed
    expect(nyse.nextSession(at('2025-01-08T22:00:00Z'))!.date).toBe('2025-01-10');
    expect(nyse.previousSession(at('2025-01-10T15:00:00Z'))!.date).toBe('2025-01-08');
    expect(nyse.nextSession(at('2025-01-10T15:00:00Z'))!.date).toBe('2025-01-10');
  });

  it('expects one daily bar per session and intraday bars only inside the hours', () => {
    const from = at('2024-12-23T00:00:00Z');
    const to = at('2024-12-27T23:59:59Z');
    const daily = nyse
      .expectedBars(DAY_MS, from, to)
      .map((t) => new Date(t).toISOString().slice(0, 10));
    expect(daily).toEqual(['2024-12-23', '2024-12-24', '2024-12-26', '2024-12-27']);
    const hourly = nyse.expectedBars(
      3_600_000,
      at('2024-12-24T00:00:00Z'),
      at('2024-12-24T23:59:59Z'),
    );
    // Christmas Eve closes at 13:00 New York (18:00 UTC); the 14:00 UTC bucket holds the 14:30 open.
    expect(hourly.map((t) => new Date(t).getUTCHours())).toEqual([14, 15, 16, 17]);
    const minutes = nyse.expectedBars(
      60_000,
      at('2024-12-26T00:00:00Z'),
      at('2024-12-26T23:59:59Z'),
    );
    expect(minutes.length).toBe(390);
  });

  it('an always-open calendar has a session every day', () => {
    const crypto = new TradingCalendar(ALWAYS_OPEN);
    expect(crypto.sessions(day('2025-01-04'), day('2025-01-05')).map((s) => s.date)).toEqual([
      '2025-01-04',
      '2025-01-05',
    ]);
    expect(crypto.isOpen(at('2025-01-04T23:59:00Z'))).toBe(true);
  });
});

describe('CalendarResolver', () => {
  const r = new CalendarResolver(
    {
      default: 'XNYS',
      prefixes: { 'BINANCE:': '24/7' },
      suffixes: { '.L': 'XLON', '.DE': 'XETR' },
    },
    { SAP: { calendar: 'XETR' } },
  );
  it('takes the instrument first, then a prefix or suffix rule, then the default', () => {
    expect(r.nameFor('SAP')).toBe('XETR');
    expect(r.nameFor('BINANCE:BTCUSDT')).toBe('24/7');
    expect(r.nameFor('VOD.L')).toBe('XLON');
    expect(r.nameFor('GS2C.DE')).toBe('XETR');
    expect(r.nameFor('AAPL')).toBe('XNYS');
  });
});
