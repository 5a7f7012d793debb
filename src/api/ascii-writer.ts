/**
 * Writes text (JSON, CSV) straight into a growing byte buffer: no
 * string per row, no join, no UTF-8 encoding pass over the whole body.
 * Numbers are written as JavaScript prints them (the shortest decimal that
 * reads back as the same double), but without a string where that is cheap:
 * integers digit by digit, and numbers with a few decimals (prices) as an
 * integer with a decimal point; the rest through `String(x)`.
 */

/** Below this, |x| · 10^6 < 2^52: see `#decimal`. */
const MAX_SHORT = 2 ** 52 / 1e6;
export class AsciiWriter {
  #buf: Buffer;
  #pos = 0;

  constructor(sizeHint = 1 << 16) {
    this.#buf = Buffer.allocUnsafe(Math.max(64, sizeHint));
  }

  /** Makes room for `n` more bytes. */
  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + n));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  /** Text that is known to be ASCII (keys, punctuation, JSON-quoted strings of ASCII). */
  ascii(s: string): this {
    const n = s.length;
    this.#room(n);
    const b = this.#buf;
    let p = this.#pos;
    for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
    this.#pos = p;
    return this;
  }

  /** Any text, as UTF-8 (e.g. an already JSON-quoted string). */
  utf8(s: string): this {
    this.#room(s.length * 3);
    this.#pos += this.#buf.write(s, this.#pos, 'utf8');
    return this;
  }

  /** Bytes already encoded (a key written once per row, rows of an earlier body). */
  bytes(u: Uint8Array): this {
    const n = u.length;
    this.#room(n);
    const b = this.#buf;
    let p = this.#pos;
    if (n > 64) {
      b.set(u, p); // a block copy; below this size the loop is faster
      this.#pos = p + n;
      return this;
    }
    for (let i = 0; i < n; i++) b[p++] = u[i]!;
    this.#pos = p;
    return this;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#pos;
  }

  /** A number as JSON: `null` for NaN and ±Infinity. */
  number(x: number): this {
    if (Number.isSafeInteger(x)) return this.#int(x);
    if (!Number.isFinite(x)) return this.ascii('null');
    if (this.#decimal(x)) return this;
    return this.ascii(String(x));
  }

  /**
   * Writes x as a decimal of at most six places when it is one, and returns
   * whether it did. While |x| · 10^6 < 2^52, decimals of six places lie
   * further apart than x's neighbouring doubles, so at most one of them reads
   * back as x, and a number of fewer places is also one of six (trailing
   * zeros): one multiplication finds it, and the digits without the trailing
   * zeros are the ones `String(x)` prints.
   */
  #decimal(x: number): boolean {
    const ax = x < 0 ? -x : x;
    if (ax < 1e-6 || ax >= MAX_SHORT) return false; // String(x) uses an exponent below 1e-6
    let m = Math.round(ax * 1e6);
    if (m / 1e6 !== ax) return false;
    const whole = Math.floor(ax);
    m -= whole * 1e6; // the six decimals, an exact integer below 10^6
    this.#room(24);
    if (x < 0) this.#buf[this.#pos++] = 45; // '-'
    this.#int(whole);
    if (m === 0) return true;
    let places = 6;
    while (m % 10 === 0) {
      m /= 10;
      places--;
    }
    const b = this.#buf;
    const p = this.#pos;
    b[p] = 46; // '.'
    for (let i = places; i > 0; i--) {
      const q = (m / 10) | 0;
      b[p + i] = 48 + (m - q * 10);
      m = q;
    }
    this.#pos = p + places + 1;
    return true;
  }

  /** A non-negative safe integer (or a negative one, signed). */
  #int(x: number): this {
    this.#room(17);
    const b = this.#buf;
    let p = this.#pos;
    if (x < 0) {
      b[p++] = 45; // '-'
      x = -x;
    }
    if (x >= 100_000_000) {
      // Above 10^8: the high part, then the low eight digits with their zeros.
      const hi = Math.floor(x / 100_000_000);
      this.#pos = p;
      this.#int(hi);
      p = this.#pos;
      this.#pos = p + 8;
      let lo = x - hi * 100_000_000;
      for (let i = p + 7; i >= p; i--) {
        const q = (lo / 10) | 0;
        b[i] = 48 + (lo - q * 10);
        lo = q;
      }
      return this;
    }
    let digits = 1;
    for (let t = x; t >= 10; t = (t / 10) | 0) digits++;
    let end = p + digits;
    this.#pos = end;
    while (end > p) {
      const q = (x / 10) | 0;
      b[--end] = 48 + (x - q * 10);
      x = q;
    }
    return this;
  }

  /** What was written, as a Buffer over the same memory. */
  toBuffer(): Buffer {
    return this.#buf.subarray(0, this.#pos);
  }
}

/**
 * A body of rows (JSON array elements, CSV lines) with where each row
 * starts, so that a body over a result patched from this one's (see
 * BarColumnSet.reused) copies the bytes of the rows it reuses instead of
 * encoding them again.
 */
export interface RowText {
  body: Buffer;
  rows: number;
  /** Offset of each row in `body`, then the end of the last row plus a separator's length. */
  starts: Float64Array;
  /** What it holds in memory (a query cache counts it). */
  byteLength: number;
}

/** Rows [at, at + count) of a body are rows [start, start + count) of an earlier one. */
export interface Reuse {
  at: number;
  start: number;
  count: number;
}

/**
 * Writes `head`, rows 0..n-1 (by `row(i)`, or copied from `prior` where
 * `reuse` says a row is one of its rows) with `sep` between them, then
 * `tail()`. Every row must be encoded from its own values only.
 */
export function writeRows(
  w: AsciiWriter,
  n: number,
  sep: Uint8Array,
  row: (i: number) => void,
  tail: () => void,
  prior?: RowText,
  reuse?: Reuse,
): RowText {
  const starts = new Float64Array(n + 1);
  const s = sep.length;
  for (let i = 0; i < n; ) {
    if (i > 0) w.bytes(sep);
    const j = reuse ? i - reuse.at + reuse.start : -1;
    if (prior && reuse && i >= reuse.at && i < reuse.at + reuse.count && j < prior.rows) {
      // A run of reused rows, with the separators between them, in one copy.
      const len = Math.min(reuse.at + reuse.count - i, prior.rows - j, n - i);
      const from = prior.starts[j]!;
      const shift = w.length - from;
      for (let k = 0; k < len; k++) starts[i + k] = prior.starts[j + k]! + shift;
      w.bytes(prior.body.subarray(from, prior.starts[j + len]! - s));
      i += len;
    } else {
      starts[i] = w.length;
      row(i);
      i++;
    }
  }
  starts[n] = w.length + s;
  tail();
  const body = w.toBuffer();
  return { body, rows: n, starts, byteLength: body.byteLength + starts.byteLength };
}
