/**
 * Dashboard sign-in: a browser cannot send a Bearer header, so it signs in
 * once with a key and gets a session cookie instead.
 *
 * - The cookie holds only a random session id (HttpOnly, SameSite=Strict,
 *   Path=/, Secure over HTTPS). The session remembers which key signed in;
 *   every request re-checks that key, so revoking it ends its sessions.
 * - Sessions end after `idleMs` without a request and `maxMs` after sign-in,
 *   or at sign-out. They live in this process: a restart signs everyone out.
 * - CSRF: besides SameSite=Strict, a request that changes something with a
 *   cookie (any method but GET/HEAD/OPTIONS) must echo the session's CSRF
 *   token in `x-csrf-token`, which a page of another site cannot read.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { parse as parseCookies, serialize } from 'cookie';

export const SESSION_COOKIE = 'tickline_session';
export const CSRF_HEADER = 'x-csrf-token';

export interface Session {
  id: string;
  keyId: string;
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
}

export interface SessionOptions {
  idleMs?: number;
  maxMs?: number;
  now?: () => number;
  /** Sessions kept at most (the oldest go first). */
  max?: number;
}

export class Sessions {
  readonly #byId = new Map<string, Session>();
  readonly #idleMs: number;
  readonly #maxMs: number;
  readonly #now: () => number;
  readonly #max: number;

  constructor(o: SessionOptions = {}) {
    this.#idleMs = o.idleMs ?? 12 * 3_600_000;
    this.#maxMs = o.maxMs ?? 7 * 86_400_000;
    this.#now = o.now ?? Date.now;
    this.#max = o.max ?? 10_000;
  }

  create(keyId: string): Session {
    const now = this.#now();
    if (this.#byId.size >= this.#max) {
      const oldest = this.#byId.keys().next().value;
      if (oldest !== undefined) this.#byId.delete(oldest);
    }
    const s: Session = {
      id: randomBytes(32).toString('base64url'),
      keyId,
      csrf: randomBytes(24).toString('base64url'),
      createdAt: now,
      lastSeenAt: now,
    };
    this.#byId.set(s.id, s);
    return s;
  }

  /** The live session with this id (and marks it seen), or null. */
  get(id: string | undefined): Session | null {
    if (!id) return null;
    const s = this.#byId.get(id);
    if (!s) return null;
    const now = this.#now();
    if (now - s.lastSeenAt > this.#idleMs || now - s.createdAt > this.#maxMs) {
      this.#byId.delete(id);
      return null;
    }
    s.lastSeenAt = now;
    return s;
  }

  end(id: string | undefined): void {
    if (id) this.#byId.delete(id);
  }

  /** Ends every session of a key (it was revoked). */
  endForKey(keyId: string): void {
    for (const [id, s] of this.#byId) if (s.keyId === keyId) this.#byId.delete(id);
  }

  get size(): number {
    return this.#byId.size;
  }

  cookie(s: Session | null, secure: boolean): string {
    return serialize(SESSION_COOKIE, s?.id ?? '', {
      httpOnly: true,
      sameSite: 'strict',
      path: '/',
      secure,
      ...(s ? { maxAge: Math.floor(this.#maxMs / 1000) } : { maxAge: 0 }),
    });
  }
}

/** The session id a Cookie header carries, if any. */
export function sessionIdOf(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  return parseCookies(cookieHeader)[SESSION_COOKIE] || undefined;
}

/** Whether `sent` is the session's CSRF token (constant time). */
export function csrfMatches(s: Session, sent: string | string[] | undefined): boolean {
  if (typeof sent !== 'string') return false;
  const a = Buffer.from(s.csrf);
  const b = Buffer.from(sent);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Methods that change nothing: a cookie alone may make them. */
export const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
