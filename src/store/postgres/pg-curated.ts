/**
 * The PostgreSQL store's curated rows: `write` replaces each series' rows of
 * `warehouse.fact_bars` from its `from` on, after making sure its instrument
 * is in `dim_instrument` and the dates it covers are in `dim_date` (each
 * date's session on the instrument's trading calendar).
 */
import type pg from 'pg';
import { type CalendarResolver, calendarResolver, getCalendar } from '../../calendar/registry.ts';
import { ConfigSchema } from '../../core/config.ts';
import { DAY_MS } from '../../core/time.ts';
import { STORED_COLUMNS } from '../../transform/enrich.ts';
import type { IndicatorRows } from '../store.ts';
import { copyRows, tsText } from './pg-copy.ts';
import type { PgSession } from './pg-session.ts';

/** The calendars of the default config (XNYS; crypto pairs 24/7; .L, .DE by suffix). */
const defaultCalendars = (): CalendarResolver => calendarResolver(ConfigSchema.parse({}));

const dateKey = (day: number): number => {
  const d = new Date(day * DAY_MS);
  return d.getUTCFullYear() * 10_000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
};

export class PgCurated {
  readonly #db: PgSession;
  readonly #calendars: CalendarResolver;
  /** Per calendar: the days [lo, hi] known to be in dim_date. */
  readonly #days = new Map<string, { lo: number; hi: number }>();

  constructor(db: PgSession, calendars?: CalendarResolver) {
    this.#db = db;
    this.#calendars = calendars ?? defaultCalendars();
  }

  /** dim_date rows for the days [lo, hi] of a calendar not written by this process yet. */
  async #dates(c: pg.PoolClient, calendar: string, lo: number, hi: number): Promise<void> {
    const known = this.#days.get(calendar);
    const days: number[] = [];
    for (let d = lo; d <= hi; d++) if (!known || d < known.lo || d > known.hi) days.push(d);
    if (days.length === 0) return;
    const named = getCalendar(calendar);
    const rows = days.map((day) => {
      const d = new Date(day * DAY_MS);
      const s = named.session(day);
      return [
        calendar,
        d.toISOString().slice(0, 10),
        dateKey(day),
        d.getUTCFullYear(),
        Math.floor(d.getUTCMonth() / 3) + 1,
        d.getUTCMonth() + 1,
        d.getUTCDate(),
        d.getUTCDay() === 0 ? 7 : d.getUTCDay(),
        s !== null,
        s ? tsText(s.open) : null,
        s ? tsText(s.close) : null,
        s?.early ?? false,
      ] as const;
    });
    const col = (k: number) => rows.map((r) => r[k]);
    await this.#db.query(
      `INSERT INTO warehouse.dim_date (calendar, date, date_key, year, quarter, month, day, iso_weekday,
         is_session, session_open, session_close, early_close)
       SELECT * FROM unnest($1::text[], $2::date[], $3::int[], $4::int2[], $5::int2[], $6::int2[],
         $7::int2[], $8::int2[], $9::bool[], $10::timestamptz[], $11::timestamptz[], $12::bool[])
       ON CONFLICT (calendar, date) DO NOTHING`,
      Array.from({ length: 12 }, (_, k) => col(k)),
      c,
    );
    this.#days.set(calendar, {
      lo: Math.min(known?.lo ?? lo, lo),
      hi: Math.max(known?.hi ?? hi, hi),
    });
  }

  async write(parts: readonly IndicatorRows[]): Promise<void> {
    if (parts.length === 0) return;
    await this.#db.tx(async (c) => {
      const symbols = [...new Set(parts.map((p) => p.symbol))];
      const calendarOf = (s: string) => this.#calendars.nameFor(s);
      await this.#db.query(
        `INSERT INTO warehouse.dim_instrument (symbol, calendar)
         SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (symbol) DO UPDATE
           SET calendar = excluded.calendar WHERE dim_instrument.calendar IS NULL`,
        [symbols, symbols.map(calendarOf)],
        c,
      );
      const ids = new Map(
        (
          await this.#db.query<{ symbol: string; instrument_id: number }>(
            'SELECT symbol, instrument_id FROM warehouse.dim_instrument WHERE symbol = ANY($1)',
            [symbols],
            c,
          )
        ).rows.map((r) => [r.symbol, r.instrument_id]),
      );
      const ranges = new Map<string, { lo: number; hi: number }>();
      for (const p of parts) {
        if (p.ts.length === 0) continue;
        const cal = calendarOf(p.symbol);
        const lo = Math.floor(p.ts[0]! / DAY_MS);
        const hi = Math.floor(p.ts[p.ts.length - 1]! / DAY_MS);
        const r = ranges.get(cal);
        ranges.set(cal, { lo: Math.min(r?.lo ?? lo, lo), hi: Math.max(r?.hi ?? hi, hi) });
      }
      for (const [cal, r] of ranges) await this.#dates(c, cal, r.lo, r.hi);
      await this.#db.query(
        `DELETE FROM warehouse.fact_bars f
         USING unnest($1::int[], $2::text[], $3::timestamptz[]) AS k(id, iv, from_ts)
         WHERE f.instrument_id = k.id AND f.interval = k.iv AND (k.from_ts IS NULL OR f.ts >= k.from_ts)`,
        [
          parts.map((p) => ids.get(p.symbol)),
          parts.map((p) => p.interval),
          parts.map((p) => (p.from === null ? null : tsText(p.from))),
        ],
        c,
      );
      const cols = ['instrument_id', 'interval', 'ts', 'date_key', ...STORED_COLUMNS];
      const offsets: number[] = [];
      let total = 0;
      for (const p of parts) {
        offsets.push(total);
        total += p.ts.length;
      }
      let part = 0;
      await copyRows(c, 'warehouse.fact_bars', cols, total, (i) => {
        while (part + 1 < parts.length && i >= offsets[part + 1]!) part++;
        const p = parts[part]!;
        const k = i - offsets[part]!;
        const ts = p.ts[k]!;
        return [
          ids.get(p.symbol)!,
          p.interval,
          tsText(ts),
          dateKey(Math.floor(ts / DAY_MS)),
          ...p.columns.map((col) => col[k]!),
        ];
      });
    });
  }
}
