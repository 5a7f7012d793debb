/**
 * Codes for the distinct strings of a column (0, 1, … in order of first sight), the same string
 * twice in a row looked up once: a column of a few distinct strings (symbols, conditions,
 * sources) as numbers and a small table.
 */
export class Codes {
  /** The strings, by code. */
  readonly values: string[] = [];
  readonly #codes = new Map<string, number>();
  #last: string | undefined;
  #lastCode = -1;

  code(s: string): number {
    if (s === this.#last) return this.#lastCode;
    let c = this.#codes.get(s);
    if (c === undefined) {
      c = this.values.length;
      this.values.push(s);
      this.#codes.set(s, c);
    }
    this.#last = s;
    this.#lastCode = c;
    return c;
  }
}
