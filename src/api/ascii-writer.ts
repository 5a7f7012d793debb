/**
 * Writes text (JSON, CSV) straight into a growing byte buffer: no
 * string per row, no join, no UTF-8 encoding pass over the whole body.
 * Every number is written as a decimal that reads back as the same double,
 * without a string: integers digit by digit, numbers with a few decimals
 * (prices) as an integer with a decimal point, and any other of up to 15
 * significant digits from one scaled integer: each of these exactly as
 * JavaScript prints it (the shortest decimal). Any other in [1e-6, 1e15)
 * (a computed value: an average, a ratio) takes 17 significant digits,
 * from the exact product of x and a power of ten, which always reads back
 * as x but may be a digit or two longer than `String(x)`; the rest (very
 * large or small) goes through `String(x)`.
 */

/** Scratch for the digits of one number. */
const DIGITS = new Uint8Array(24);
/** The two digits of 0 … 99, tens then ones. */
const PAIRS = Uint8Array.from({ length: 200 }, (_, i) =>
  i % 2 ? (i >> 1) % 10 : ((i >> 1) / 10) | 0,
);
/** Writes v (0 … 99) as two digits at d[at]. */
const two = (d: Uint8Array, at: number, v: number): void => {
  d[at] = PAIRS[2 * v]!;
  d[at + 1] = PAIRS[2 * v + 1]!;
};
/** Writes v (0 … 9999) as four digits at d[at]. */
const four = (d: Uint8Array, at: number, v: number): void => {
  const a = (v / 100) | 0;
  two(d, at, a);
  two(d, at + 2, v - a * 100);
};
/** Writes v (0 … 99,999,999) as eight digits at d[at]. */
const eight = (d: Uint8Array, at: number, v: number): void => {
  const a = (v / 10_000) | 0;
  four(d, at, a);
  four(d, at + 4, v - a * 10_000);
};
/** Below this, |x| · 10^6 < 2^52: see `#decimal`. */
const MAX_SHORT = 2 ** 52 / 1e6;
/** 10^0 … 10^22: every one exact as a double. */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
/** The doubles nearest 10^−k (what the literals 1e-k are). */
const NEG_POW10 = POW10.map((_, k) => Number(`1e-${k}`));
/** Dekker's split of each power of ten into two halves of 26 bits (see `#digits`). */
const SPLIT = 134_217_729; // 2^27 + 1
const POW10_HI = POW10.map((p) => {
  const c = SPLIT * p;
  return c - (c - p);
});
const POW10_LO = POW10.map((p, i) => p - POW10_HI[i]!);
export class AsciiWriter {
  #buf: Buffer;
  #pos = 0;

  constructor(sizeHint = 1 << 16) {
    // Never from the shared pool: `after` may write past what a writer wrote, into its room.
    this.#buf = Buffer.allocUnsafeSlow(Math.max(64, sizeHint));
  }

  /**
   * A writer that goes on after `written` (a view of the first bytes of its
   * buffer), in the same buffer while `more` bytes fit after it, else in a
   * new one with `written` copied. What `written` shows is never changed.
   */
  static after(written: Buffer, more: number): AsciiWriter {
    const room = written.buffer.byteLength - written.byteOffset - written.length;
    if (room < more) {
      const w = new AsciiWriter(Math.ceil((written.length + more) * 1.25));
      return w.bytes(written);
    }
    const w = new AsciiWriter(0);
    w.#buf = Buffer.from(written.buffer, written.byteOffset, written.length + room);
    w.#pos = written.length;
    return w;
  }

  /** Makes room for `n` more bytes. */
  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.#buf.length * 2, this.#pos + n));
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
    if (this.#digits(x)) return this;
    return this.ascii(String(x));
  }

  /**
   * Writes x in [1e-6, 1e15) (either sign) as at most 17 significant digits
   * that read back as x, and returns whether it did. First 15 digits: the
   * decimals of 15 significant digits lie further apart than doubles do, so
   * at most one reads back as x; when one does (m / 10^s === x, a correctly
   * rounded division of two exact numbers), it is the one `String(x)`
   * shortens. Otherwise 17 digits: x · 10^s is computed exactly, as the
   * rounded product plus its error (Dekker's two-product), and rounded to an
   * integer; 17 significant digits always read back as the same double.
   */
  #digits(x: number): boolean {
    const ax = x < 0 ? -x : x;
    if (ax < 1e-6 || ax >= 1e15) return false;
    // The decimal exponent: 10^p ≤ ax < 10^(p+1), by comparisons with the powers of ten.
    let p = 0;
    if (ax >= 1) while (p < 14 && POW10[p + 1]! <= ax) p++;
    else
      do p--;
      while (p > -6 && NEG_POW10[-p]! > ax);
    // 15 significant digits: ax · 10^(14−p), which is below 10^15 < 2^53.
    const s15 = 14 - p; // 0 … 20
    const m = Math.round(ax * POW10[s15]!);
    if (m / POW10[s15]! === ax && m < 1e15) {
      const lo = m % 1e8;
      this.#place(x < 0, (m - lo) / 1e8, 7, lo, p);
      return true;
    }
    // 17 significant digits: hi + lo = ax · 10^(16−p) exactly; hi ≥ 10^16 > 2^53 is an integer.
    const s = 16 - p; // 2 … 22
    const hi = ax * POW10[s]!;
    const c = SPLIT * ax;
    const ah = c - (c - ax);
    const al = ax - ah;
    const bh = POW10_HI[s]!;
    const bl = POW10_LO[s]!;
    const lo = ah * bh - hi + ah * bl + al * bh + al * bl;
    // hi + round(lo) as 9 high and 8 low digits (hi − q·10^8 is exact: both are integers and
    // q·10^8 = (q·5^8)·2^8 is exact below 2^53·2^8).
    let q = Math.floor(hi / 1e8);
    let r = hi - q * 1e8 + Math.round(lo);
    while (r < 0) {
      r += 1e8;
      q--;
    }
    while (r >= 1e8) {
      r -= 1e8;
      q++;
    }
    if (q >= 1e9) {
      // Rounded up to 10^17: the number is 10^(p+1) to 17 digits.
      q = 1e8;
      r = 0;
      p++;
    }
    this.#place(x < 0, q, 9, r, p);
    return true;
  }

  /**
   * Writes the decimal whose significant digits are `hi` (exactly `hiDigits`
   * of them: 7 or 9) followed by `lo` (exactly 8), with the first digit at
   * 10^p: a point where it falls, trailing zeros dropped.
   */
  #place(negative: boolean, hi: number, hiDigits: 7 | 9, lo: number, p: number): void {
    this.#room(32);
    const d = DIGITS;
    // In int32 arithmetic (both parts are below 10^9 < 2^31), four digits at a time, two by two
    // from a table: few divisions, and none waiting on another for long.
    const h = hi | 0;
    if (hiDigits === 9) {
      const top = (h / 100_000_000) | 0;
      d[0] = top;
      eight(d, 1, h - top * 100_000_000);
    } else {
      const top = (h / 10_000) | 0; // three digits
      const t1 = (top / 100) | 0;
      d[0] = t1;
      two(d, 1, top - t1 * 100);
      four(d, 3, h - top * 10_000);
    }
    eight(d, hiDigits, lo | 0);
    let n = hiDigits + 8;
    while (n > 1 && d[n - 1] === 0) n--;
    const b = this.#buf;
    let at = this.#pos;
    if (negative) b[at++] = 45; // '-'
    if (p < 0) {
      b[at++] = 48; // '0'
      b[at++] = 46; // '.'
      for (let z = -1; z > p; z--) b[at++] = 48;
      for (let i = 0; i < n; i++) b[at++] = 48 + d[i]!;
    } else {
      for (let i = 0; i <= p; i++) b[at++] = 48 + (i < n ? d[i]! : 0);
      if (n > p + 1) {
        b[at++] = 46; // '.'
        for (let i = p + 1; i < n; i++) b[at++] = 48 + d[i]!;
      }
    }
    this.#pos = at;
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
 * A body of rows (JSON array elements, CSV lines) in three parts: `head`,
 * the rows with separators between them, and `tail`, written out one after
 * another (never concatenated). Where each row starts is kept, so that a body
 * over a result patched from this one's (see BarColumnSet.reused) copies the
 * bytes of the rows it reuses instead of encoding them again; and when the
 * patch only adds rows at the end, it writes them after these rows in the
 * same buffer (room was left for them), so the kept rows are not copied at
 * all. The bytes of a body never change once made: a later body only writes
 * past the end of this one's rows, and only one later body is made from it.
 */
export interface RowText {
  head: Buffer;
  /** The rows, separators between them: a view of the first bytes of a buffer with room. */
  text: Buffer;
  tail: Buffer;
  rows: number;
  /** Offset of each row in `text`, then the end of the last row plus a separator's length. */
  starts: Float64Array;
  /** The memory it keeps alive (a query cache counts it). */
  byteLength: number;
}

/** Rows [at, at + count) of a body are rows [start, start + count) of an earlier one. */
export interface Reuse {
  at: number;
  start: number;
  count: number;
}

/**
 * The rows 0..n-1 of a body, `sep` between them: each by `row(w, i)`, or
 * copied from `prior` where `reuse` says it is one of its rows. Every row
 * must be encoded from its own values only. `perRow`: the most bytes a row
 * takes (room is made for that).
 */
export function writeRows(
  head: Buffer,
  tail: Buffer,
  n: number,
  sep: Uint8Array,
  row: (w: AsciiWriter, i: number) => void,
  perRow: number,
  prior?: RowText,
  reuse?: Reuse,
): RowText {
  const added = n - (prior && reuse ? Math.min(reuse.count, prior.rows) : 0);
  const starts = new Float64Array(n + 1);
  const s = sep.length;
  let w: AsciiWriter;
  let i = 0;
  if (
    prior &&
    reuse &&
    reuse.at === 0 &&
    reuse.start === 0 &&
    reuse.count === prior.rows &&
    prior.rows > 0 &&
    n >= prior.rows
  ) {
    // Only rows added at the end: go on writing after the prior rows, in their buffer.
    w = AsciiWriter.after(prior.text, 64 + added * (perRow + sep.length));
    starts.set(prior.starts.subarray(0, prior.rows));
    i = prior.rows;
  } else w = new AsciiWriter(64 + (prior ? prior.text.length : 0) + added * (perRow + sep.length));
  for (; i < n; ) {
    if (i > 0) w.bytes(sep);
    const j = reuse ? i - reuse.at + reuse.start : -1;
    if (prior && reuse && i >= reuse.at && i < reuse.at + reuse.count && j < prior.rows) {
      // A run of reused rows, with the separators between them, in one copy.
      const len = Math.min(reuse.at + reuse.count - i, prior.rows - j, n - i);
      const from = prior.starts[j]!;
      const shift = w.length - from;
      for (let k = 0; k < len; k++) starts[i + k] = prior.starts[j + k]! + shift;
      w.bytes(prior.text.subarray(from, prior.starts[j + len]! - s));
      i += len;
    } else {
      starts[i] = w.length;
      row(w, i);
      i++;
    }
  }
  starts[n] = w.length + s;
  const text = w.toBuffer();
  return {
    head,
    text,
    tail,
    rows: n,
    starts,
    // What it keeps alive: the writer's whole buffer (room to spare included).
    byteLength: head.length + text.buffer.byteLength + tail.length + starts.byteLength,
  };
}
