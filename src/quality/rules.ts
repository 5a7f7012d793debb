/**
 * Every rule a record can be quarantined under, by where it is judged: the
 * bar rules, the trade rules, and what parsers and stages refuse whole. A
 * filter by rule (CLI --rule, API rule=) accepts these and any rule already
 * stored (a rule of an older version).
 */
import { BAR_RULES } from './bar-rules.ts';
import { TRADE_RULES } from './trade-validator.ts';

/** Rules of parsers and stages: a message, row or response that could not be read or processed. */
export const INPUT_RULES = [
  'malformed_message',
  'oversized_message',
  'malformed_row',
  'other_symbol',
  'malformed_response',
  'empty_response',
  'unprocessable_record',
] as const;

export const QUARANTINE_RULES: readonly string[] = [
  ...new Set([...Object.keys(BAR_RULES), ...TRADE_RULES, ...INPUT_RULES]),
].sort();

/** Why `rule` is not a rule to filter by (null when it is one, or one already stored). */
export function ruleProblem(rule: string, stored: readonly string[] = []): string | null {
  if (QUARANTINE_RULES.includes(rule) || stored.includes(rule)) return null;
  const all = [...new Set([...QUARANTINE_RULES, ...stored])].sort();
  return `"${rule}" is not a rule; expected one of ${all.join(', ')}`;
}
