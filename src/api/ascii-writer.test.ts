import { describe, expect, it } from 'vitest';
import { seededRandom } from '../core/random.ts';
import { AsciiWriter } from './ascii-writer.ts';

const written = (x: number) => new AsciiWriter(8).number(x).toBuffer().toString();

describe('AsciiWriter.number', () => {
  it('prints every number as String(x) does (null for NaN and ±Infinity)', () => {
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
    const wrong = xs.filter((x) => written(x) !== String(x));
    expect(wrong.slice(0, 5).map((x) => [x, written(x)])).toEqual([]);
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
