/**
 * Trading calendars: the sessions of an exchange (trading date, open and
 * close in UTC), from its holiday rules, its ad hoc closures and its early
 * closes, with daylight saving applied as the exchange's zone had it.
 *
 * A calendar answers what schedules, gap checks, freshness and the live
 * feed's staleness need: is the exchange open at t, which sessions lie in a
 * range, which bars a series should have.
 */
import { DAY_MS, isoDate, isWeekend, yearOf, zonedDay, zonedTime } from './dates.ts';

/** One trading session. */
export interface Session {
  /** The trading date, YYYY-MM-DD. */
  date: string;
  /** Day number of the date (days since 1970-01-01). */
  day: number;
  /** Open and close, UTC epoch ms. */
  open: number;
  close: number;
  /** Closed earlier than the exchange's regular close. */
  early: boolean;
}

/** What defines an exchange's sessions. */
export interface ExchangeRules {
  /** ISO 10383 market identifier, e.g. XNYS. */
  name: string;
  title: string;
  /** IANA zone of the exchange's hours. */
  timeZone: string;
  /** Regular open and close, minutes after local midnight. */
  openMinutes: number;
  closeMinutes: number;
  /** Weekdays of the year the exchange is closed (holidays and ad hoc closures), as day numbers. */
  closures(year: number): Iterable<number>;
  /** Early closes of the year: day number → close (minutes after local midnight). */
  earlyCloses(year: number): Map<number, number>;
  /** Open every day of the week, all day (crypto). */
  alwaysOpen?: boolean;
}

/** First and last year a calendar covers (inclusive); outside it every query is refused. */
export const FIRST_YEAR = 1990;
export const lastYear = (now = Date.now()): number => new Date(now).getUTCFullYear() + 1;

export class TradingCalendar {
  readonly rules: ExchangeRules;
  readonly name: string;
  readonly firstDay: number;
  readonly lastDay: number;
  readonly #years = new Map<number, Session[]>();

  constructor(rules: ExchangeRules, opts: { firstYear?: number; lastYear?: number } = {}) {
    this.rules = rules;
    this.name = rules.name;
    const first = opts.firstYear ?? FIRST_YEAR;
    const last = opts.lastYear ?? lastYear();
    this.firstDay = Date.UTC(first, 0, 1) / DAY_MS;
    this.lastDay = Date.UTC(last, 11, 31) / DAY_MS;
  }

  /** The sessions of one year, in order. */
  #year(year: number): Session[] {
    let list = this.#years.get(year);
    if (list) return list;
    const r = this.rules;
    const closed = new Set(r.closures(year));
    const early = r.earlyCloses(year);
    list = [];
    const end = Date.UTC(year + 1, 0, 1) / DAY_MS;
    for (let day = Date.UTC(year, 0, 1) / DAY_MS; day < end; day++) {
      if (r.alwaysOpen) {
        list.push({
          date: isoDate(day),
          day,
          open: day * DAY_MS,
          close: (day + 1) * DAY_MS,
          early: false,
        });
        continue;
      }
      if (isWeekend(day) || closed.has(day)) continue;
      const closeMin = early.get(day);
      list.push({
        date: isoDate(day),
        day,
        open: zonedTime(r.timeZone, day, r.openMinutes),
        close: zonedTime(r.timeZone, day, closeMin ?? r.closeMinutes),
        early: closeMin !== undefined && closeMin < r.closeMinutes,
      });
    }
    this.#years.set(year, list);
    return list;
  }

  /** Sessions whose dates lie in [fromDay, toDay] (day numbers), clipped to the covered years. */
  sessions(fromDay: number, toDay: number): Session[] {
    const lo = Math.max(fromDay, this.firstDay);
    const hi = Math.min(toDay, this.lastDay);
    const out: Session[] = [];
    if (lo > hi) return out;
    for (let y = yearOf(lo); y <= yearOf(hi); y++) {
      for (const s of this.#year(y)) if (s.day >= lo && s.day <= hi) out.push(s);
    }
    return out;
  }

  /** The session on this date, or null when the exchange is closed that day. */
  session(day: number): Session | null {
    if (day < this.firstDay || day > this.lastDay) return null;
    return this.#year(yearOf(day)).find((s) => s.day === day) ?? null;
  }

  /** Whether the exchange trades at this instant. */
  isOpen(ms: number): boolean {
    return this.sessionAt(ms) !== null;
  }

  /** The session in progress at this instant, or null. */
  sessionAt(ms: number): Session | null {
    const day = this.rules.alwaysOpen ? Math.floor(ms / DAY_MS) : zonedDay(this.rules.timeZone, ms);
    const s = this.session(day);
    return s && ms >= s.open && ms < s.close ? s : null;
  }

  /** The first session that closes after this instant (the current one while open), or null past the covered years. */
  nextSession(ms: number): Session | null {
    const day = Math.floor(ms / DAY_MS) - 1;
    for (let d = Math.max(day, this.firstDay); d <= this.lastDay; d++) {
      const s = this.session(d);
      if (s && s.close > ms) return s;
    }
    return null;
  }

  /** The last session that closed at or before this instant, or null. */
  previousSession(ms: number): Session | null {
    const day = Math.floor(ms / DAY_MS) + 1;
    for (let d = Math.min(day, this.lastDay); d >= this.firstDay; d--) {
      const s = this.session(d);
      if (s && s.close <= ms) return s;
    }
    return null;
  }

  /** Whether this date (day number) is a trading day. */
  isSessionDay(day: number): boolean {
    return this.session(day) !== null;
  }

  /**
   * The bar start times a series of this interval should have in [from, to]
   * (epoch ms): daily bars one per session (at the date's UTC midnight);
   * intraday bars every interval bucket (aligned to the epoch, as bars are)
   * that overlaps a session's hours.
   */
  expectedBars(intervalMs: number, from: number, to: number): number[] {
    const out: number[] = [];
    if (intervalMs >= DAY_MS) {
      for (const s of this.sessions(Math.floor(from / DAY_MS), Math.floor(to / DAY_MS))) {
        const ts = s.day * DAY_MS;
        if (ts >= from && ts <= to) out.push(ts);
      }
      return out;
    }
    for (const s of this.sessions(Math.floor(from / DAY_MS) - 1, Math.floor(to / DAY_MS) + 1)) {
      const first = Math.floor(s.open / intervalMs) * intervalMs;
      for (let t = first; t < s.close; t += intervalMs) if (t >= from && t <= to) out.push(t);
    }
    return out;
  }
}
