import { describe, expect, it } from 'vitest';
import { seededRandom } from '../core/random.ts';
import { AsciiWriter, type RowText, writeRows } from './ascii-writer.ts';

const written = (x: number) => new AsciiWriter(8).number(x).toBuffer().toString();

/** Significant digits of a plain decimal (no exponent). */
const significant = (t: string) => t.replace(/^-?0*\.?0*/, '').replace('.', '').length;

describe('AsciiWriter.number', () => {
  it('prints a decimal that reads back as the same double; as String(x) does up to 15 digits', () => {
    // A seeded mix: prices of 0–6 decimals over 22 magnitudes, their negatives, full-precision
    // doubles, integers up to 2^53, and values just off a short decimal.
    const rand = seededRandom(12345);
    const xs: number[] = [];
    for (let i = 0; i < 200_000; i++) {
      const places = Math.floor(rand() * 8);
      const mag = 10 ** Math.floor(rand() * 22 - 7);
      const short = Math.round(rand() * mag * 10 ** places) / 10 ** places;
      xs.push(short, -short, rand() * mag, short + 1e-9, Math.floor(rand() * 2 ** 53));
    }
    xs.push(0, -0, 0.1, 0.2, 0.1 + 0.2, 1.005, 1e-6, 9.99e-7, 1e-7, 123.45, 99_999_999.99);
    xs.push(2 ** 52 / 1e6, 2 ** 52 / 1e6 - 1e-6, 4_503_599_627.370_495, 1e21, 5e-324, -1e300);
    xs.push(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 100_000_000, 99_999_999, 1e15 + 0.5);
    // Computed values: averages and ratios of full precision, and float32 prices (as Yahoo's).
    for (let i = 0; i < 100_000; i++) {
      const a = rand() * 10 ** Math.floor(rand() * 20 - 6);
      xs.push(a / 3, (a * 7) / 11, Math.fround(a), 10 ** Math.floor(rand() * 21 - 6) * (1 - 1e-16));
    }
    // Next to powers of ten, both sides, where the exponent is easiest to get wrong.
    for (let k = -6; k <= 15; k++) {
      const p = Number(`1e${k}`);
      xs.push(p, p * (1 + 2 ** -52), p * (1 - 2 ** -53), p - 2 ** -40, p + 2 ** -40);
    }
    const wrong: [number, string, string][] = [];
    for (const x of xs) {
      const t = written(x);
      const s = String(x);
      const ok =
        Number(t) === x &&
        /^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$/.test(t) === !/e/.test(s) &&
        (significant(s) <= 15 || /e/.test(s) ? t === s : significant(t) <= 17);
      if (!ok) wrong.push([x, t, s]);
    }
    expect(wrong.slice(0, 5)).toEqual([]);
    expect([NaN, Infinity, -Infinity].map(written)).toEqual(['null', 'null', 'null']);
  });

  it('grows its buffer as it writes', () => {
    const w = new AsciiWriter(1);
    for (let i = 0; i < 1000; i++) w.number(i + 0.25).ascii(',');
    const text = w.toBuffer().toString();
    expect(text.split(',').slice(0, 3)).toEqual(['0.25', '1.25', '2.25']);
    expect(text.length).toBe(w.toBuffer().length);
  });
});

describe('writeRows', () => {
  const head = Buffer.from('[');
  const tail = Buffer.from(']');
  const sep = Buffer.from(',');
  /** Rows of the values in `xs`, copied from `prior` as `reuse` says. */
  const rows = (
    xs: number[],
    prior?: RowText,
    reuse?: { at: number; start: number; count: number },
  ) => writeRows(head, tail, xs.length, sep, (w, i) => w.number(xs[i]!), 24, prior, reuse);
  const text = (r: RowText) => Buffer.concat([r.head, r.text, r.tail]).toString();

  it('goes on after the rows of a body in their buffer, and never changes a body once made', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 0.5);
    const a = rows(xs);
    const aText = text(a);
    // Two rows added at the end: written after a's rows, in a's buffer (it has room).
    const b = rows([...xs, 100.5, 101.5], a, { at: 0, start: 0, count: 100 });
    expect(b.text.buffer).toBe(a.text.buffer);
    expect(text(b)).toBe(JSON.stringify([...xs, 100.5, 101.5]));
    expect(text(a)).toBe(aText);
    // Many more than the room: a new buffer, the old one untouched.
    const more = Array.from({ length: 5000 }, (_, i) => i * 3);
    const c = rows([...xs, 100.5, 101.5, ...more], b, { at: 0, start: 0, count: 102 });
    expect(c.text.buffer).not.toBe(b.text.buffer);
    expect(JSON.parse(text(c))).toEqual([...xs, 100.5, 101.5, ...more]);
    expect(text(a)).toBe(aText);
    expect(text(b)).toBe(JSON.stringify([...xs, 100.5, 101.5]));
  });

  it('copies reused rows where they move (newest first, a window that slides)', () => {
    const xs = Array.from({ length: 50 }, (_, i) => i * 1.25);
    const a = rows(xs);
    // Newest first: two new rows before the 50 kept ones.
    const desc = rows([-1, -2, ...xs], a, { at: 2, start: 0, count: 50 });
    expect(text(desc)).toBe(JSON.stringify([-1, -2, ...xs]));
    // A sliding window: the first 10 gone, 10 new at the end.
    const slid = rows([...xs.slice(10), 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], a, {
      at: 0,
      start: 10,
      count: 40,
    });
    expect(JSON.parse(text(slid))).toEqual([...xs.slice(10), 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    expect(text(a)).toBe(JSON.stringify(xs));
  });
});
