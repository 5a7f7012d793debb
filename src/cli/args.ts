/** Flag parsing for the CLI: every bad value becomes one UsageError naming the flag. */
import { UsageError } from '../core/errors.ts';
import { symbolProblem } from '../core/limits.ts';
import {
  DAY_MS,
  INTERVALS,
  type Interval,
  isInterval,
  parseDateArg,
  rangeProblem,
  timeArgProblem,
} from '../core/time.ts';

export function parseInterval(
  value: string | undefined,
  allowed: readonly Interval[] = INTERVALS,
): Interval {
  const v = value ?? '1d';
  if (!isInterval(v) || !allowed.includes(v)) {
    throw new UsageError(
      '--interval',
      `unknown interval "${v}"; expected one of ${allowed.join(', ')}`,
    );
  }
  return v;
}

export function parseDate(flag: string, value: string): number {
  const ms = parseDateArg(value);
  if (!Number.isFinite(ms)) throw new UsageError(flag, `expected ${timeArgProblem(value)}`);
  return ms;
}

/**
 * `--from` (inclusive) and `--to` (inclusive; a bare date means the whole
 * day). Returns a half-open range [from, to).
 */
export function parseRange(
  fromArg: string | undefined,
  toArg: string | undefined,
  now = Date.now(),
  interval?: Interval,
): { from: number; to: number } {
  if (!fromArg) throw new UsageError('--from', 'is required (YYYY-MM-DD)');
  const from = parseDate('--from', fromArg);
  let to = now;
  if (toArg) {
    to = parseDate('--to', toArg);
    if (/^\d{4}-\d{2}-\d{2}$/.test(toArg.trim())) to += DAY_MS;
  }
  // The same check as the API's (core/time.ts).
  const problem = rangeProblem(from, to, interval);
  if (problem) throw new UsageError(`--${problem.parameter}`, `expected ${problem.message}`);
  return { from, to };
}

export function parseSymbols(value: string | undefined, flag = '--symbols'): string[] {
  if (!value || value.trim() === '') throw new UsageError(flag, 'is required, e.g. AAPL,MSFT');
  const out = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const s of out) {
    const bad = symbolProblem(s);
    if (bad) throw new UsageError(flag, bad);
  }
  if (out.length === 0) throw new UsageError(flag, 'is required, e.g. AAPL,MSFT');
  return [...new Set(out.map((s) => s.toUpperCase()))];
}

export function parsePositiveInt(
  flag: string,
  value: string | undefined,
  dflt: number,
  max = 1_000_000,
): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new UsageError(flag, `"${value}" is not a whole number from 1 to ${max}`);
  }
  return n;
}

/** A TCP port: 0 (any free one) or 1–65535. */
export function parsePort(value: string, flag = '--port'): number {
  return value === '0' ? 0 : parsePositiveInt(flag, value, 0, 65_535);
}

export function parseChoice<T extends string>(
  flag: string,
  value: string | undefined,
  choices: readonly T[],
  dflt: T,
): T {
  const v = value ?? dflt;
  if (!(choices as readonly string[]).includes(v)) {
    throw new UsageError(flag, `"${v}" is not one of ${choices.join(', ')}`);
  }
  return v as T;
}
