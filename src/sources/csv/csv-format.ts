/**
 * Reads OHLCV bars from CSV text. Bar files hold one record per line, so the
 * text is split into lines first and each line is tokenised on its own: a
 * broken line (an unclosed quote, a wrong field count) is quarantined alone
 * and every other line still parses, which a general streaming CSV parser
 * cannot promise once a quote runs away.
 */
import { z } from 'zod';
import { ConfigError } from '../../core/errors.ts';
import { capPayload, MAX_CSV_RECORD_BYTES, symbolProblem } from '../../core/limits.ts';
import type { CandidateBar, Quarantined } from '../../core/records.ts';
import {
  type Interval,
  isDailyOrLonger,
  isTimeZone,
  utcMs,
  wallTimeToUtc,
} from '../../core/time.ts';

/** How the columns of a file map to a bar. Any field left out is recognised from the header. */
export const CsvMappingSchema = z
  .object({
    date: z.string().optional(),
    time: z.string().optional(),
    open: z.string().optional(),
    high: z.string().optional(),
    low: z.string().optional(),
    close: z.string().optional(),
    adjClose: z.string().optional(),
    volume: z.string().optional(),
    symbol: z.string().optional(),
    delimiter: z.string().length(1).optional(),
    /**
     * The decimal mark of the numbers: '.' (default) or ',' (62,5 and 1.234,56; the
     * columns are then split by ';' or a tab, as such files are).
     */
    decimal: z.enum(['.', ',']).optional(),
    /** `auto`, or tokens YYYY MM DD HH mm ss, e.g. `DD.MM.YYYY` or `MM/DD/YYYY HH:mm`. */
    dateFormat: z.string().optional(),
    /** IANA zone of wall-clock times without an offset (default UTC). */
    timezone: z.string().optional(),
  })
  .strict();
export type CsvMapping = z.infer<typeof CsvMappingSchema>;

type Field = 'date' | 'time' | 'open' | 'high' | 'low' | 'close' | 'adjClose' | 'volume' | 'symbol';
const FIELDS: Field[] = [
  'date',
  'time',
  'open',
  'high',
  'low',
  'close',
  'adjClose',
  'volume',
  'symbol',
];

const ALIASES: Record<Field, string[]> = {
  date: ['date', 'datetime', 'timestamp', 'day', ''],
  time: ['time'],
  open: ['open', 'o'],
  high: ['high', 'h'],
  low: ['low', 'l'],
  close: ['close', 'c', 'last'],
  adjClose: ['adjclose', 'adjustedclose'],
  volume: ['volume', 'vol', 'v'],
  symbol: ['symbol', 'ticker'],
};

const norm = (h: string): string => h.toLowerCase().replace(/[^a-z0-9]/g, '');

/** Splits one line on `delim`, honouring double quotes. Returns null for an unclosed quote. */
export function splitCsvLine(line: string, delim: string): string[] | null {
  if (!line.includes('"')) return line.split(delim);
  const out: string[] = [];
  let cur = '';
  let inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (inQuotes) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i++;
        } else inQuotes = false;
      } else cur += ch;
    } else if (ch === '"') inQuotes = true;
    else if (ch === delim) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (inQuotes) return null;
  out.push(cur);
  return out;
}

function guessDelimiter(header: string, among = [',', ';', '\t', '|']): string {
  const counts = among.map((d) => [d, header.split(d).length] as const);
  counts.sort((a, b) => b[1] - a[1]);
  return counts[0]![0];
}

export interface ColumnLayout {
  delimiter: string;
  header: string[];
  index: Partial<Record<Field, number>>;
}

/** Maps header columns to bar fields, by the explicit mapping first, then by known names. */
export function resolveColumns(
  headerLine: string,
  mapping: CsvMapping,
  file: string,
): ColumnLayout {
  const delimiter =
    mapping.delimiter ??
    (mapping.decimal === ','
      ? guessDelimiter(headerLine, [';', '\t', '|'])
      : guessDelimiter(headerLine));
  if (mapping.decimal === ',' && delimiter === ',') {
    throw new ConfigError(
      'mapping.delimiter',
      'a delimiter other than "," when the decimal mark is "," (e.g. delimiter=;)',
      delimiter,
    );
  }
  const header = (splitCsvLine(headerLine, delimiter) ?? headerLine.split(delimiter)).map((h) =>
    h.trim(),
  );
  const index: Partial<Record<Field, number>> = {};
  const normalized = header.map(norm);
  for (const field of FIELDS) {
    const explicit = mapping[field];
    if (explicit !== undefined) {
      const at = header.indexOf(explicit);
      const i = at >= 0 ? at : normalized.indexOf(norm(explicit));
      if (i < 0) {
        throw new ConfigError(
          `mapping.${field}`,
          `a column of ${file} (header: ${header.join(delimiter)})`,
          explicit,
        );
      }
      index[field] = i;
      continue;
    }
    const i = normalized.findIndex((h) => ALIASES[field].includes(h));
    if (i >= 0 && !Object.values(index).includes(i)) index[field] = i;
  }
  const missing = (['date', 'open', 'high', 'low', 'close'] as const).filter(
    (f) => index[f] === undefined,
  );
  if (missing.length > 0) {
    throw new ConfigError(
      file,
      `a CSV file of bars with columns date, open, high, low, close (missing ${missing.join(', ')}; header was ${JSON.stringify(header.join(delimiter).slice(0, 200))}); pass --mapping to name them`,
    );
  }
  return { delimiter, header, index };
}

/** Compiles a date format (`auto` or tokens) into a parser returning wall-clock ms as if UTC. */
export function compileDateParser(format: string | undefined): (v: string) => {
  wallMs: number;
  hasOffset: boolean;
} {
  if (!format || format === 'auto') return parseAutoDate;
  const tokens: string[] = [];
  const pattern = format.replace(/YYYY|MM|DD|HH|mm|ss|[.*+?^${}()|[\]\\]/g, (t) => {
    if (t.length === 1) return `\\${t}`;
    tokens.push(t);
    return t === 'YYYY' ? '(\\d{4})' : '(\\d{1,2})';
  });
  if (!tokens.includes('YYYY') || !tokens.includes('MM') || !tokens.includes('DD')) {
    throw new ConfigError('mapping.dateFormat', 'a format with YYYY, MM and DD', format);
  }
  const re = new RegExp(`^${pattern}$`);
  return (v) => {
    const m = re.exec(v.trim());
    if (!m) return { wallMs: Number.NaN, hasOffset: false };
    const part = (t: string): number => {
      const i = tokens.indexOf(t);
      return i < 0 ? 0 : Number(m[i + 1]);
    };
    return {
      wallMs: checkedUtc(part('YYYY'), part('MM'), part('DD'), part('HH'), part('mm'), part('ss')),
      hasOffset: false,
    };
  };
}

function checkedUtc(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const t = utcMs(y, mo - 1, d, h, mi, s, ms);
  const back = new Date(t);
  if (back.getUTCDate() !== d || back.getUTCMonth() !== mo - 1 || h > 23 || mi > 59 || s > 60) {
    return Number.NaN;
  }
  return t;
}

const AUTO =
  /^(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/;

function parseAutoDate(v: string): { wallMs: number; hasOffset: boolean } {
  const s = v.trim();
  if (/^\d{9,13}$/.test(s)) {
    const n = Number(s);
    return { wallMs: s.length <= 10 ? n * 1000 : n, hasOffset: true };
  }
  const m = AUTO.exec(s);
  if (!m) return { wallMs: Number.NaN, hasOffset: false };
  const frac = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  let t = checkedUtc(
    Number(m[1]),
    Number(m[2]),
    Number(m[3]),
    Number(m[4] ?? 0),
    Number(m[5] ?? 0),
    Number(m[6] ?? 0),
    frac,
  );
  const off = m[8];
  if (off && off !== 'Z') {
    const sign = off[0] === '-' ? -1 : 1;
    const digits = off.slice(1).replace(':', '');
    t -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return { wallMs: t, hasOffset: off !== undefined };
}

/** A decimal number as CSV files write them: no hex, binary or octal forms (`0x0A` is not 10). */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const NON_FINITE = /^[+-]?(?:nan|inf|infinity)$/i;

/** A field as a number; null when empty; NaN (the not_finite rule) when it is not a decimal number. */
/**
 * A number written with a decimal comma, in the usual form: '62,5' or
 * '1.234,56' (points or spaces group thousands) → '1234.56'.
 */
function fromDecimalComma(s: string): string {
  const t = s.replace(/[\s\u00a0\u202f']/g, '');
  if (/^[+-]?\d{1,3}(\.\d{3})+(,\d*)?$/.test(t)) return t.replaceAll('.', '').replace(',', '.');
  return t.includes('.') ? s : t.replace(',', '.');
}

function parseNumber(v: string | undefined, decimal: '.' | ','): number | null {
  if (v === undefined) return null;
  const s = decimal === ',' ? fromDecimalComma(v.trim()) : v.trim();
  if (s === '' || s.toLowerCase() === 'null' || s === '-') return null;
  if (DECIMAL.test(s)) return Number(s);
  return NON_FINITE.test(s) ? Number(s.replace(/^([+-]?)inf$/i, '$1Infinity')) : Number.NaN;
}

/** The first value field that is not a decimal number, for a message that names it. */
function notDecimal(
  f: readonly string[],
  index: Partial<Record<Field, number>>,
  decimal: '.' | ',',
): { field: Field; text: string } | null {
  for (const field of ['open', 'high', 'low', 'close', 'adjClose', 'volume'] as const) {
    const i = index[field];
    if (i === undefined) continue;
    const s = decimal === ',' ? fromDecimalComma(f[i]!.trim()) : f[i]!.trim();
    if (s === '' || s.toLowerCase() === 'null' || s === '-') continue;
    if (!DECIMAL.test(s) && !NON_FINITE.test(s)) return { field, text: s };
  }
  return null;
}

/** Checks a file's header (and that a symbol is known) without parsing its rows. */
export function checkCsvHeader(
  text: string,
  mapping: CsvMapping,
  file: string,
  hasSymbol: boolean,
): void {
  const firstLine = text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .find((l) => l.trim() !== '');
  if (firstLine === undefined) throw new ConfigError(file, 'a CSV file of bars, not an empty file');
  const { index, header, delimiter } = resolveColumns(firstLine.replace(/\r$/, ''), mapping, file);
  if (index.symbol === undefined && !hasSymbol) {
    throw new ConfigError(
      '--symbol',
      `a symbol for its rows, since ${file} has no symbol column (header: ${header.join(delimiter)})`,
    );
  }
}

export interface CsvParseOptions {
  /** Symbol for every row, unless the file has a symbol column. */
  symbol?: string;
  interval: Interval;
  source: string;
  file: string;
  mapping?: CsvMapping;
  receivedAt: number;
}

/** Parses bar CSV text into candidate bars and per-line rejects. */
export function parseBarsCsv(
  text: string,
  opts: CsvParseOptions,
): { bars: CandidateBar[]; rejects: Quarantined[] } {
  const mapping = opts.mapping ?? {};
  const tz = mapping.timezone ?? 'UTC';
  if (!isTimeZone(tz)) throw new ConfigError('mapping.timezone', 'an IANA time zone name', tz);
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split('\n');
  let first = 0;
  while (first < lines.length && lines[first]!.trim() === '') first++;
  if (first >= lines.length) return { bars: [], rejects: [] };
  const layout = resolveColumns(lines[first]!.replace(/\r$/, ''), mapping, opts.file);
  const { index, delimiter, header } = layout;
  if (index.symbol === undefined && !opts.symbol) {
    throw new ConfigError(
      '--symbol',
      `a symbol for its rows, since ${opts.file} has no symbol column (header: ${header.join(delimiter)})`,
    );
  }
  const parseDate = compileDateParser(mapping.dateFormat);
  const decimal = mapping.decimal ?? '.';
  const daily = isDailyOrLonger(opts.interval);
  const bars: CandidateBar[] = [];
  const rejects: Quarantined[] = [];
  const width = header.length;
  const reject = (rule: string, message: string, line: string, symbol: string | null): void => {
    rejects.push({
      stage: 'parse',
      source: opts.source,
      symbol,
      interval: opts.interval,
      rule,
      message,
      payload: line,
      receivedAt: opts.receivedAt,
    });
  };
  for (let n = first + 1; n < lines.length; n++) {
    const line = lines[n]!.endsWith('\r') ? lines[n]!.slice(0, -1) : lines[n]!;
    if (line.trim() === '') continue;
    const where = `${opts.file}:${n + 1}`;
    if (line.length > MAX_CSV_RECORD_BYTES) {
      reject(
        'malformed_row',
        `${where}: a line of ${line.length} chars; at most ${MAX_CSV_RECORD_BYTES}`,
        capPayload(line),
        null,
      );
      continue;
    }
    const f = splitCsvLine(line, delimiter);
    const named = index.symbol !== undefined ? f?.[index.symbol]?.trim() : undefined;
    const symbol = named || opts.symbol || null;
    if (!f) {
      reject('malformed_row', `${where}: unclosed quote`, line, symbol);
      continue;
    }
    if (f.length !== width) {
      reject('malformed_row', `${where}: ${f.length} fields, header has ${width}`, line, symbol);
      continue;
    }
    if (!symbol) {
      reject('malformed_row', `${where}: empty symbol`, line, null);
      continue;
    }
    const badSymbol = symbolProblem(symbol);
    if (badSymbol) {
      reject('bad_symbol', `${where}: ${badSymbol}`, line, null);
      continue;
    }
    if (named && opts.symbol && named.toUpperCase() !== opts.symbol.toUpperCase()) {
      reject(
        'other_symbol',
        `${where}: a row of ${named}; --symbol asked for ${opts.symbol} only`,
        line,
        named.toUpperCase(),
      );
      continue;
    }
    const nd = notDecimal(f, index, decimal);
    if (nd) {
      reject(
        'not_finite',
        `${where}: ${nd.field} ${JSON.stringify(nd.text)} is not a decimal number`,
        line,
        symbol.toUpperCase(),
      );
      continue;
    }
    let dateText = f[index.date!]!.trim();
    if (index.time !== undefined) dateText = `${dateText} ${f[index.time]!.trim()}`;
    const { wallMs, hasOffset } = parseDate(dateText);
    let ts = wallMs;
    if (Number.isFinite(ts)) {
      if (daily) ts -= ((ts % 86_400_000) + 86_400_000) % 86_400_000;
      else if (!hasOffset) ts = wallTimeToUtc(ts, tz);
    }
    const volume = index.volume === undefined ? 0 : parseNumber(f[index.volume], decimal);
    bars.push({
      symbol: symbol.toUpperCase(),
      interval: opts.interval,
      ts,
      open: parseNumber(f[index.open!], decimal),
      high: parseNumber(f[index.high!], decimal),
      low: parseNumber(f[index.low!], decimal),
      close: parseNumber(f[index.close!], decimal),
      volume,
      adjClose: index.adjClose === undefined ? null : parseNumber(f[index.adjClose], decimal),
      source: opts.source,
      payload: line,
    });
  }
  return { bars, rejects };
}
