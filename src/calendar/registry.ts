/** Calendars by name, and which calendar a symbol trades on (config: instruments, prefixes, suffixes). */
import { TradingCalendar } from './calendar.ts';
import { EXCHANGES } from './exchanges.ts';

export const CALENDAR_NAMES = Object.keys(EXCHANGES) as readonly string[];

const cache = new Map<string, TradingCalendar>();

/** The calendar of that name (XNYS, XLON, XETR, 24/7), or null. */
export function findCalendar(name: string): TradingCalendar | null {
  const key = name.toUpperCase() === 'ALWAYS' ? '24/7' : name.toUpperCase();
  const rules = EXCHANGES[key];
  if (!rules) return null;
  let cal = cache.get(key);
  if (!cal) {
    cal = new TradingCalendar(rules);
    cache.set(key, cal);
  }
  return cal;
}

export function getCalendar(name: string): TradingCalendar {
  const cal = findCalendar(name);
  if (!cal) throw new Error(`no calendar ${name} (known: ${CALENDAR_NAMES.join(', ')})`);
  return cal;
}

export interface CalendarSettings {
  /** For symbols no other rule names. */
  default: string;
  /** Symbol prefix → calendar (e.g. BINANCE: → 24/7); the longest match wins. */
  prefixes: Record<string, string>;
  /** Symbol suffix → calendar (e.g. .L → XLON); the longest match wins. */
  suffixes: Record<string, string>;
}

/** Which calendar each symbol trades on. */
export class CalendarResolver {
  readonly #settings: CalendarSettings;
  readonly #instruments: Record<string, { calendar?: string | undefined }>;
  readonly #memo = new Map<string, TradingCalendar>();

  constructor(
    settings: CalendarSettings,
    instruments: Record<string, { calendar?: string | undefined }> = {},
  ) {
    this.#settings = settings;
    this.#instruments = instruments;
  }

  /** The calendar's name for a symbol: its instrument entry, else a prefix or suffix rule, else the default. */
  nameFor(symbol: string): string {
    const own = this.#instruments[symbol]?.calendar;
    if (own) return own;
    const longest = (
      rules: Record<string, string>,
      test: (k: string) => boolean,
    ): string | null => {
      let best: string | null = null;
      for (const k of Object.keys(rules))
        if (test(k) && (best === null || k.length > best.length)) best = k;
      return best === null ? null : rules[best]!;
    };
    return (
      longest(this.#settings.prefixes, (p) => symbol.startsWith(p)) ??
      longest(this.#settings.suffixes, (s) => symbol.endsWith(s)) ??
      this.#settings.default
    );
  }

  for(symbol: string): TradingCalendar {
    let cal = this.#memo.get(symbol);
    if (!cal) {
      cal = getCalendar(this.nameFor(symbol));
      this.#memo.set(symbol, cal);
    }
    return cal;
  }
}

/** The resolver a config describes. */
export function calendarResolver(cfg: {
  calendars: CalendarSettings;
  instruments: Record<string, { calendar?: string | undefined }>;
}): CalendarResolver {
  return new CalendarResolver(cfg.calendars, cfg.instruments);
}
