/**
 * Who may call what, decided before any handler runs:
 *
 * - **By route, whatever the method.** A request's scope is its route's:
 *   HEAD is GET's, and any other method on a path (OPTIONS, say) takes the
 *   strictest scope of that path. An /api path outside the table needs an
 *   admin key: deny by default.
 * - **Failed authentications are limited per client address**, so made-up
 *   keys cannot each get a fresh rate-limit bucket, nor a store lookup
 *   each: past `perMinute` failures an address gets 429 until its minute
 *   is over, before any lookup.
 * - **DNS rebinding.** When reads need no key (a loopback bind), a request
 *   is served only if its Host is a loopback name or the bound host, and
 *   its Origin, when sent, is one too: a page on another site that
 *   resolves its own name to 127.0.0.1 gets 403.
 */
import type { ApiScope } from '../store/store.ts';

/** `public`: anyone (liveness, sign-in, the dashboard's static files, which hold no data). */
export type RouteScope = ApiScope | 'public';

export interface RouteRef {
  method: string;
  path: string;
  scope?: RouteScope | undefined;
}

/** Routes outside ROUTES that the server answers (all readable). */
export const EXTRA_ROUTES: readonly RouteRef[] = [
  { method: 'GET', path: '/api/openapi.json', scope: 'read' },
  { method: 'GET', path: '/api/docs', scope: 'read' },
  { method: 'GET', path: '/metrics', scope: 'read' },
];

/** The scope a request needs, from its method and matched route (see the file comment). */
export function scopeTable(
  routes: readonly RouteRef[],
): (method: string, url: string) => RouteScope {
  const rank = { public: 0, read: 1, admin: 2 };
  const exact = new Map<string, RouteScope>();
  const byPath = new Map<string, RouteScope>();
  for (const r of routes) {
    const scope = r.scope ?? 'read';
    exact.set(`${r.method} ${r.path}`, scope);
    const had = byPath.get(r.path);
    if (had === undefined || rank[scope] > rank[had]) byPath.set(r.path, scope);
  }
  return (method, url) => {
    const m = method === 'HEAD' ? 'GET' : method;
    const hit = exact.get(`${m} ${url}`) ?? byPath.get(url);
    if (hit) return hit;
    // The dashboard's static files are public (its sign-in page must load); an unknown API route is admin.
    return url.startsWith('/api') || url.startsWith('/metrics') ? 'admin' : 'public';
  };
}

/** Failed authentications per client address in fixed one-minute windows (bounded memory). */
export class AuthFailures {
  readonly #perMinute: number;
  readonly #now: () => number;
  readonly #byAddress = new Map<string, { count: number; resetAt: number }>();
  static readonly MAX_ADDRESSES = 10_000;

  constructor(perMinute: number, now: () => number = Date.now) {
    this.#perMinute = perMinute;
    this.#now = now;
  }

  /** Seconds until `address` may try again, or 0 when it may now. */
  blockedFor(address: string): number {
    const e = this.#byAddress.get(address);
    const now = this.#now();
    if (!e || e.resetAt <= now) return 0;
    return e.count >= this.#perMinute ? Math.ceil((e.resetAt - now) / 1000) : 0;
  }

  fail(address: string): void {
    const now = this.#now();
    let e = this.#byAddress.get(address);
    if (!e || e.resetAt <= now) {
      if (this.#byAddress.size >= AuthFailures.MAX_ADDRESSES) this.#prune(now);
      e = { count: 0, resetAt: now + 60_000 };
      this.#byAddress.set(address, e);
    }
    e.count++;
  }

  #prune(now: number): void {
    for (const [a, e] of this.#byAddress) if (e.resetAt <= now) this.#byAddress.delete(a);
    // Still full (a flood from many addresses): forget the oldest half.
    if (this.#byAddress.size >= AuthFailures.MAX_ADDRESSES) {
      let n = this.#byAddress.size / 2;
      for (const a of this.#byAddress.keys()) {
        if (n-- <= 0) break;
        this.#byAddress.delete(a);
      }
    }
  }
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** The host name of a Host header or an Origin (no port, lower case), or null if unreadable. */
export function hostnameOf(value: string, isOrigin: boolean): string | null {
  try {
    return new URL(isOrigin ? value : `http://${value}`).hostname.toLowerCase();
  } catch {
    return null;
  }
}

/**
 * Why a request to a keyless (loopback) server is refused as a possible DNS
 * rebinding, or null when its Host and Origin name this machine.
 */
export function rebindingProblem(
  host: string | undefined,
  origin: string | undefined,
  boundHost: string,
): string | null {
  const allowed = (name: string | null): boolean =>
    name !== null &&
    (LOOPBACK_NAMES.has(name) || name.endsWith('.localhost') || name === boundHost.toLowerCase());
  if (!host || !allowed(hostnameOf(host, false))) {
    const names = [...new Set(['127.0.0.1', 'localhost', '::1', boundHost.toLowerCase()])];
    return `Host ${JSON.stringify(host ?? '')} is not this server's name; reads without a key are served to ${names.join(', ')} only`;
  }
  if (origin !== undefined && origin !== 'null' && !allowed(hostnameOf(origin, true))) {
    return `Origin ${JSON.stringify(origin)} is another site; reads without a key are served to pages of this server only`;
  }
  if (origin === 'null') return 'Origin "null" (a sandboxed page or file) is not this server';
  return null;
}
