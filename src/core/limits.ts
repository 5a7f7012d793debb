/**
 * The limits every input is held to, defined once: the symbol grammar, the
 * longest field, message and payload tickline takes, and how deep a JSON
 * document may nest. Every source, the CLI and the API apply these, so
 * nothing is stored that the API could not serve, and no input can make a
 * parser or a serializer run out of stack.
 */

/** The longest symbol, e.g. `BINANCE:1000SHIBUSDT` is 20. */
export const MAX_SYMBOL_LENGTH = 32;
/** Letters, digits and `. - = ^ _ : /`, starting with a letter, digit or `^`. */
export const SYMBOL_PATTERN = /^[A-Za-z0-9^][A-Za-z0-9.\-=^_:/]{0,31}$/;
/** What SYMBOL_PATTERN allows, in words (for error messages). */
export const SYMBOL_RULE =
  'letters, digits and . - = ^ _ : /, starting with a letter, digit or ^, at most 32';

/** The longest trade conditions text (Finnhub sends a few codes). */
export const MAX_CONDITIONS_LENGTH = 256;
/** The longest text message a live source takes (a Finnhub trade message is a few KB). */
export const MAX_MESSAGE_BYTES = 1 << 20;
/** The deepest nesting of a JSON message (a Finnhub trade message nests 4 deep). */
export const MAX_JSON_DEPTH = 32;
/** The longest CSV record (one line, or several with quoted newlines). */
export const MAX_CSV_RECORD_BYTES = 64 << 10;
/** The longest provider response body taken (a 60-year daily history is ~2 MB). */
export const MAX_RESPONSE_BYTES = 256 << 20;
/** The longest payload kept in the quarantine; a longer one is cut, and says so. */
export const MAX_PAYLOAD_CHARS = 64 << 10;

/** Why `s` is not a symbol, or null when it is one. */
export function symbolProblem(s: string): string | null {
  if (s === '') return 'symbol is missing';
  if (SYMBOL_PATTERN.test(s)) return null;
  const shown =
    s.length > 40 ? `${JSON.stringify(s.slice(0, 40))}… (${s.length} chars)` : JSON.stringify(s);
  return `${shown} is not a symbol (${SYMBOL_RULE})`;
}

/**
 * How deep `text` nests, as JSON, stopping once past `max` (so a 10 MB
 * document of brackets costs one pass up to the first `max + 1` levels).
 * Brackets inside strings do not count.
 */
export function jsonDepthExceeds(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** A JSON text that breaks a limit: what was wrong, for a quarantine message. */
export class JsonLimitError extends Error {
  readonly limit: 'size' | 'depth';
  constructor(limit: 'size' | 'depth', message: string) {
    super(message);
    this.name = 'JsonLimitError';
    this.limit = limit;
  }
}

/**
 * JSON.parse within limits: throws JsonLimitError for a text longer than
 * `maxBytes` (counted as UTF-16 units, an upper bound for ASCII-heavy JSON)
 * or nested deeper than `maxDepth`, SyntaxError for one that is not JSON.
 */
export function parseJsonWithin(
  text: string,
  maxBytes = MAX_MESSAGE_BYTES,
  maxDepth = MAX_JSON_DEPTH,
): unknown {
  if (text.length > maxBytes) {
    throw new JsonLimitError(
      'size',
      `message of ${text.length} chars is over the limit of ${maxBytes}`,
    );
  }
  if (jsonDepthExceeds(text, maxDepth)) {
    throw new JsonLimitError('depth', `message nests deeper than ${maxDepth} levels`);
  }
  return JSON.parse(text);
}

/** `text` cut to MAX_PAYLOAD_CHARS, saying how long it was when cut. */
export function capPayload(text: string, max = MAX_PAYLOAD_CHARS): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}…[cut: ${text.length} chars in all]`;
}
