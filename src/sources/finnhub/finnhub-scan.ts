/**
 * A single-pass scanner for the one message the live path sees most: a
 * Finnhub trade message, `{"data":[{"c":["1","12"],"p":284.45,"s":"AAPL",
 * "t":1586876152227,"v":300}, …],"type":"trade"}`, keys in any order, JSON
 * whitespace anywhere between tokens.
 *
 * It reads the text once and makes only the trades: no object per message,
 * per element or per conditions array, and no string per symbol or
 * conditions list it has seen before (they are looked up by a hash of their
 * characters and checked character for character). `JSON.parse` builds all
 * of that and then the trades are copied out of it.
 *
 * It accepts a strict subset of JSON and gives up (returns false, adding
 * nothing) on anything else: escapes or control characters in a string, a
 * key it does not know, a key twice, a value of another type (null
 * included), trailing text. The caller then parses the message with
 * `JSON.parse`, whose result is the reference: for every message the scanner
 * accepts it gives exactly the trades the `JSON.parse` path gives, payloads
 * included (tested on recorded and fuzzed messages).
 */
import type { CandidateTrade, LazyPayload } from '../../core/records.ts';

/**
 * A trade's element within its message, [start, end) of its text; its JSON is built only if it is
 * quarantined. (Trade columns carry it across threads as the message and the two offsets.)
 */
export class ElementPayload implements LazyPayload {
  readonly message: string;
  readonly start: number;
  readonly end: number;
  constructor(message: string, start: number, end: number) {
    this.message = message;
    this.start = start;
    this.end = end;
  }
  text(): string {
    // The same text as JSON.stringify of the parsed element (key order and number form).
    return JSON.stringify(JSON.parse(this.message.slice(this.start, this.end)));
  }
}

/** Whether `text` holds `s` at `at` (short strings: a loop beats a call). */
function same(text: string, at: number, s: string): boolean {
  for (let k = 0; k < s.length; k++) if (text.charCodeAt(at + k) !== s.charCodeAt(k)) return false;
  return true;
}

/** The longest symbol kept for reuse (a conditions list: four times this). */
const MAX_KEPT_CHARS = 64;

/** 10^k for k ≤ 22: exactly representable, so m / 10^k is correctly rounded for m < 2^53. */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

/** Strings seen before, by a hash of their characters (bounded). */
class Interned {
  readonly #byHash = new Map<number, string>();
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  /** The string text[start, end), whose characters hash to `h`. */
  get(text: string, start: number, end: number, h: number): string {
    const hit = this.#byHash.get(h);
    if (hit !== undefined && hit.length === end - start && same(text, start, hit)) return hit;
    const s = text.slice(start, end);
    // Only short strings are kept: a feed of long, ever-new ones must not fill memory.
    if (hit === undefined && this.#byHash.size < this.#max && s.length <= MAX_KEPT_CHARS) {
      this.#byHash.set(h, s);
    }
    return s;
  }
}

/** Character codes. */
const TAB = 9;
const LF = 10;
const CR = 13;
const SPACE = 32;
const QUOTE = 34;
const PLUS = 43;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const COLON = 58;
const UPPER_E = 69;
const L_BRACKET = 91;
const BACKSLASH = 92;
const R_BRACKET = 93;
const LOWER_E = 101;
const L_BRACE = 123;
const R_BRACE = 125;

const symbols = new Interned(65_536);
/** Joined conditions by the hash of their array's text. */
const conditionLists = new Map<number, { raw: string; joined: string }>();
const MAX_CONDITION_LISTS = 4096;

/** Key bits of a trade element, to refuse a repeated key. */
const K_S = 1;
const K_P = 2;
const K_T = 4;
const K_V = 8;
const K_C = 16;

/**
 * Scans `text`; when it is a trade message of the accepted form, pushes its
 * trades to `trades` and returns true. Otherwise returns false with `trades`
 * as it was.
 */
export function scanTradeMessage(
  text: string,
  receivedAt: number,
  source: string,
  trades: CandidateTrade[],
): boolean {
  const before = trades.length;
  const ok = new Scanner(text).message(receivedAt, source, trades);
  if (!ok) trades.length = before;
  return ok;
}

class Scanner {
  readonly t: string;
  i = 0;
  /** Set by `string()`: the FNV-1a hash of the string's characters. */
  hash = 0;
  constructor(text: string) {
    this.t = text;
  }

  /** Skips whitespace; the next character's code. */
  ws(): number {
    const c = this.t.charCodeAt(this.i);
    return c > SPACE ? c : this.skip();
  }

  skip(): number {
    const t = this.t;
    let i = this.i;
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === SPACE || c === LF || c === CR || c === TAB) i++;
      else break;
    }
    this.i = i;
    return t.charCodeAt(i);
  }

  /** After a list's opening character: true (and past it) when `close` ends the list at once. */
  empty(close: number): boolean {
    if (this.ws() !== close) return false;
    this.i++;
    return true;
  }

  /**
   * After an item of a list that `close` ends: true at its end (taken), false at a comma (taken,
   * whitespace skipped), null when neither.
   */
  after(close: number): boolean | null {
    const c = this.ws();
    this.i++;
    if (c === close) return true;
    if (c !== COMMA) return null;
    this.ws();
    return false;
  }

  /** The `:` after a key, and the whitespace around it; false when it is missing. */
  colon(): boolean {
    if (this.ws() !== COLON) return false;
    this.i++;
    this.ws();
    return true;
  }

  /** `"…"` without escapes or control characters: its content's end (this.i after the quote), or -1. */
  string(): number {
    const t = this.t;
    let i = this.i;
    if (t.charCodeAt(i) !== QUOTE) return -1;
    i++;
    let h = 0x811c9dc5;
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === QUOTE) break;
      if (c === BACKSLASH || c < 32 || Number.isNaN(c)) return -1;
      h = Math.imul(h ^ c, 0x01000193);
      i++;
    }
    this.hash = h;
    this.i = i + 1;
    return i;
  }

  /** A JSON number, exactly as JSON.parse reads it; NaN when there is none. */
  number(): number {
    const t = this.t;
    let i = this.i;
    const start = i;
    if (t.charCodeAt(i) === MINUS) i++;
    let c = t.charCodeAt(i);
    let m = 0;
    let digits = 0;
    let frac = 0;
    if (c === ZERO) c = t.charCodeAt(++i);
    else if (c > ZERO && c <= NINE) {
      do {
        m = m * 10 + (c - ZERO);
        digits++;
        c = t.charCodeAt(++i);
      } while (c >= ZERO && c <= NINE);
    } else return Number.NaN;
    if (c === DOT) {
      c = t.charCodeAt(++i);
      if (!(c >= ZERO && c <= NINE)) return Number.NaN;
      do {
        m = m * 10 + (c - ZERO);
        digits++;
        frac++;
        c = t.charCodeAt(++i);
      } while (c >= ZERO && c <= NINE);
    }
    let exact = digits <= 15 && frac <= 22;
    if (c === LOWER_E || c === UPPER_E) {
      c = t.charCodeAt(++i);
      if (c === PLUS || c === MINUS) c = t.charCodeAt(++i);
      if (!(c >= ZERO && c <= NINE)) return Number.NaN;
      do c = t.charCodeAt(++i);
      while (c >= ZERO && c <= NINE);
      exact = false;
    }
    this.i = i;
    // Up to 15 digits the mantissa is an exact integer and one division rounds correctly.
    if (!exact) return Number(t.slice(start, i));
    const v = frac === 0 ? m : m / POW10[frac]!;
    return t.charCodeAt(start) === MINUS ? -v : v;
  }

  /** `["1","12"]`: the strings joined by commas, as `Array.join` would; null when not that. */
  conditions(): string | null {
    const t = this.t;
    const start = this.i;
    if (t.charCodeAt(start) !== L_BRACKET) return null;
    this.i++;
    let h = 0x811c9dc5;
    if (!this.empty(R_BRACKET)) {
      for (;;) {
        if (this.string() < 0) return null;
        h = Math.imul(h ^ this.hash, 0x01000193);
        const last = this.after(R_BRACKET);
        if (last === null) return null;
        if (last) break;
      }
    }
    const end = this.i;
    const hit = conditionLists.get(h);
    if (hit && hit.raw.length === end - start && same(t, start, hit.raw)) return hit.joined;
    const raw = t.slice(start, end);
    const joined = (JSON.parse(raw) as string[]).join(',');
    if (!hit && conditionLists.size < MAX_CONDITION_LISTS && raw.length <= 4 * MAX_KEPT_CHARS) {
      conditionLists.set(h, { raw, joined });
    }
    return joined;
  }

  /** One `{…}` element of `data`, as a trade; false when it is not of the accepted form. */
  element(receivedAt: number, source: string, out: CandidateTrade[]): boolean {
    const t = this.t;
    const start = this.i;
    if (t.charCodeAt(start) !== L_BRACE) return false;
    this.i++;
    let seen = 0;
    let symbol = '';
    let price = Number.NaN;
    let ts = Number.NaN;
    let size = Number.NaN;
    let conditions = '';
    if (!this.empty(R_BRACE)) {
      for (;;) {
        const i = this.i;
        // One-letter keys only.
        if (t.charCodeAt(i) !== QUOTE || t.charCodeAt(i + 2) !== QUOTE) return false;
        const key = t.charCodeAt(i + 1);
        this.i = i + 3;
        if (!this.colon()) return false;
        let bit: number;
        if (key === 115 /* s */) {
          bit = K_S;
          const s = this.i + 1;
          const e = this.string();
          if (e < 0) return false;
          symbol = symbols.get(t, s, e, this.hash);
        } else if (key === 112 /* p */) {
          bit = K_P;
          price = this.number();
          if (Number.isNaN(price)) return false;
        } else if (key === 116 /* t */) {
          bit = K_T;
          ts = this.number();
          if (Number.isNaN(ts)) return false;
        } else if (key === 118 /* v */) {
          bit = K_V;
          size = this.number();
          if (Number.isNaN(size)) return false;
        } else if (key === 99 /* c */) {
          bit = K_C;
          const joined = this.conditions();
          if (joined === null) return false;
          conditions = joined;
        } else return false;
        if (seen & bit) return false;
        seen |= bit;
        const last = this.after(R_BRACE);
        if (last === null) return false;
        if (last) break;
      }
    }
    out.push({
      symbol,
      ts,
      price,
      size,
      conditions,
      tradeId: '',
      source,
      payload: new ElementPayload(t, start, this.i),
      receivedAt,
    });
    return true;
  }

  message(receivedAt: number, source: string, out: CandidateTrade[]): boolean {
    const t = this.t;
    if (this.ws() !== L_BRACE) return false;
    this.i++;
    let data = false;
    let type = false;
    this.ws();
    for (;;) {
      if (!data && t.startsWith('"data"', this.i)) {
        data = true;
        this.i += 6;
        if (!this.colon() || t.charCodeAt(this.i) !== L_BRACKET) return false;
        this.i++;
        if (!this.empty(R_BRACKET)) {
          for (;;) {
            if (!this.element(receivedAt, source, out)) return false;
            const last = this.after(R_BRACKET);
            if (last === null) return false;
            if (last) break;
          }
        }
      } else if (!type && t.startsWith('"type"', this.i)) {
        type = true;
        this.i += 6;
        if (!this.colon() || !t.startsWith('"trade"', this.i)) return false;
        this.i += 7;
      } else return false;
      const last = this.after(R_BRACE);
      if (last === null) return false;
      if (last) break;
    }
    this.ws();
    return data && type && this.i === t.length;
  }
}
