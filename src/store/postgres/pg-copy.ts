/**
 * Bulk rows into PostgreSQL through COPY … FROM STDIN (text format): the rows
 * are encoded in one pass into a few large chunks and streamed over one
 * connection, which is how `psql \copy` loads a file.
 */

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** A value in COPY's text format: \N for NULL, backslash escapes in text. */
export type CopyValue = string | number | boolean | null;

const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function encode(v: CopyValue): string {
  if (v === null) return '\\N';
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (v === Number.POSITIVE_INFINITY) return 'Infinity';
    if (v === Number.NEGATIVE_INFINITY) return '-Infinity';
    return String(v);
  }
  if (typeof v === 'boolean') return v ? 't' : 'f';
  return /[\\\t\n\r]/.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c]!) : v;
}

/**
 * Epoch ms as a timestamptz literal (UTC), clamped to ±6e13 ms (years 69 to 3871: inside every
 * type's range; an open range bound such as -8.64e15 becomes a far one).
 */
export const tsText = (ms: number): string =>
  new Date(Math.max(-6e13, Math.min(6e13, ms))).toISOString();

/** Streams `count` rows (each `row(i)`, in `columns` order) into `table` with COPY. */
export async function copyRows(
  client: pg.PoolClient,
  table: string,
  columns: readonly string[],
  count: number,
  row: (i: number) => readonly CopyValue[],
): Promise<void> {
  if (count === 0) return;
  const stream = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
  const CHUNK = 4096;
  async function* chunks() {
    for (let start = 0; start < count; start += CHUNK) {
      const end = Math.min(count, start + CHUNK);
      let text = '';
      for (let i = start; i < end; i++) text += `${row(i).map(encode).join('\t')}\n`;
      yield text;
    }
  }
  await pipeline(Readable.from(chunks()), stream);
}
