/**
 * The error family every stage throws. Each error carries a stable `code`, a
 * message that names what was wrong and how to fix it, and the underlying
 * error as `cause`.
 */
export class TicklineError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A provider answered with an error, or not at all. */
export class SourceError extends TicklineError {
  readonly provider: string;
  readonly status: number | undefined;
  readonly retryable: boolean;
  readonly symbol: string | undefined;
  constructor(
    message: string,
    opts: {
      provider: string;
      status?: number;
      retryable: boolean;
      symbol?: string;
      cause?: unknown;
    },
  ) {
    super('SOURCE_ERROR', message, { cause: opts.cause });
    this.provider = opts.provider;
    this.status = opts.status;
    this.retryable = opts.retryable;
    this.symbol = opts.symbol;
  }
}

/** A record broke a quality rule. */
export class ValidationError extends TicklineError {
  readonly rule: string;
  readonly record: unknown;
  constructor(rule: string, message: string, record: unknown) {
    super('VALIDATION_ERROR', message);
    this.rule = rule;
    this.record = record;
  }
}

/**
 * SQL a user wrote (tickline query) failed, or would change the store when
 * only reading was asked: the database's reason, on one line.
 */
export class SqlError extends TicklineError {
  readonly query: string;
  constructor(message: string, query: string, options?: { cause?: unknown }) {
    super('SQL_ERROR', message.replace(/\s*\n\s*/g, ' ').trim(), options);
    this.query = query;
  }
}

/** A query or write against the store failed. */
export class StoreError extends TicklineError {
  readonly query: string;
  readonly params: readonly unknown[];
  constructor(message: string, query: string, params: readonly unknown[], cause?: unknown) {
    const detail = params.length > 0 ? `\nparams: ${JSON.stringify(params)}` : '';
    super('STORE_ERROR', `${message}\nquery: ${query}${detail}`, { cause });
    this.query = query;
    this.params = params;
  }
}

/** A configuration value (file, environment or flag) is invalid. */
export class ConfigError extends TicklineError {
  readonly path: string;
  readonly expected: string;
  constructor(path: string, expected: string, got?: unknown) {
    const shown = got === undefined ? '' : ` (got ${JSON.stringify(got)})`;
    super('CONFIG_ERROR', `${path}: expected ${expected}${shown}`);
    this.path = path;
    this.expected = expected;
  }
}

/** A command-line flag or argument is invalid; the CLI prints it and exits 2. */
export class UsageError extends TicklineError {
  readonly flag: string;
  constructor(flag: string, message: string) {
    super('USAGE_ERROR', `${flag}: ${message}`);
    this.flag = flag;
  }
}

/** A store could not be reached (refused, TLS not verified, wrong credentials): said in one line. */
export class StoreConnectError extends TicklineError {
  readonly store: string;
  constructor(store: string, where: string, why: string, cause?: unknown) {
    super('STORE_CONNECT_ERROR', `cannot connect to ${store} at ${where}: ${why}`, { cause });
    this.store = store;
  }
}

/** Formats any thrown value as one line. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A failure that may pass by itself (a server away, a full disk): retry it, never give up on the record. */
export class TransientError extends TicklineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TRANSIENT_ERROR', message, options);
  }
}

/** System error codes of failures that pass by themselves (network, resources). */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOSPC',
  'EIO',
  'EBUSY',
  'EAGAIN',
  'EMFILE',
  'ENFILE',
  // Kafka clients' network and timeout failures.
  'PLT_KFK_NETWORK',
  'PLT_KFK_TIMEOUT',
]);

/** Messages of store failures that pass by themselves (DuckDB's I/O, memory and lock errors). */
const TRANSIENT_STORE = /\b(IO Error|Out of Memory|Could not set lock|No space left|connection)/i;

/**
 * Whether an error may pass by itself, so the work is retried for as long
 * as it takes: an error marked retryable (a SourceError, a Kafka client
 * error that can be retried), a TransientError, a network or resource
 * error code, a store I/O error — anywhere in its chain of causes.
 * Anything else (a record no code path can handle) is deterministic: it
 * fails the same way every time.
 */
export function isTransient(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 8) return false;
  const x = err as {
    retryable?: unknown;
    canRetry?: unknown;
    code?: unknown;
    cause?: unknown;
    errors?: unknown;
  };
  if (err instanceof TransientError) return true;
  if (x.retryable === true || x.canRetry === true) return true;
  if (x.retryable === false) return false;
  if (typeof x.code === 'string' && TRANSIENT_CODES.has(x.code)) return true;
  if (err instanceof StoreError && TRANSIENT_STORE.test(err.message)) return true;
  // An aggregate (several attempts, several brokers) is transient if one of its errors is.
  if (Array.isArray(x.errors) && x.errors.some((e) => isTransient(e, depth + 1))) return true;
  return isTransient(x.cause, depth + 1);
}
