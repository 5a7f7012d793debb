/**
 * Writes text (JSON, CSV) straight into a growing byte buffer: no
 * string per row, no join, no UTF-8 encoding pass over the whole body.
 * Integers are written digit by digit; other numbers as JavaScript prints
 * them (the shortest decimal that reads back as the same double).
 */
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

  /** A number as JSON: `null` for NaN and ±Infinity. */
  number(x: number): this {
    if (Number.isSafeInteger(x)) return this.#int(x);
    if (!Number.isFinite(x)) return this.ascii('null');
    return this.ascii(String(x));
  }

  #int(x: number): this {
    this.#room(17);
    const b = this.#buf;
    let p = this.#pos;
    if (x < 0) {
      b[p++] = 45; // '-'
      x = -x;
    }
    if (x < 10) {
      b[p++] = 48 + x;
      this.#pos = p;
      return this;
    }
    let digits = 1;
    for (let t = x; t >= 10; t = Math.floor(t / 10)) digits++;
    let end = p + digits;
    this.#pos = end;
    while (end > p) {
      const q = Math.floor(x / 10);
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
