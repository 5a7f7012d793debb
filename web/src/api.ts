/** The few API calls the dashboard makes; errors become readable messages. */

import type { paths } from './generated/api-types.ts';

/*
 * Every answer is typed from the API's OpenAPI document (generated/api-types.ts, made by
 * `npm run gen:api`): a server change the dashboard does not follow fails `tsc -p web`.
 */
type Responses<O> = O extends { responses: infer R } ? R : never;
type JsonOf<R> = R extends { content: { 'application/json': infer J } } ? J : never;
/** The JSON of an operation's 2xx answer (per operation, for a union of them). */
type Success<O> = O extends unknown
  ?
      | JsonOf<Responses<O>[200 & keyof Responses<O>]>
      | JsonOf<Responses<O>[201 & keyof Responses<O>]>
      | JsonOf<Responses<O>[202 & keyof Responses<O>]>
  : never;
type WithMethod<M extends 'get' | 'post'> = {
  [P in keyof paths]: paths[P] extends Record<M, object> ? P : never;
}[keyof paths];
export type GetPath = WithMethod<'get'>;
export type PostPath = WithMethod<'post'>;
/** What a GET of this path answers (its 200 JSON). */
export type ApiGet<P extends GetPath> = Success<paths[P]['get']>;
/** What a POST to this path answers (its 2xx JSON). */
export type ApiPost<P extends PostPath> = Success<paths[P]['post']>;

/** Fills a path template's {params} and appends a query. */
function apiUrl(
  template: string,
  o: {
    params?: Record<string, string>;
    query?: string | Record<string, string | number | undefined>;
  } = {},
): string {
  const path = template.replace(/\{(\w+)\}/g, (_m, k: string) =>
    encodeURIComponent(o.params?.[k] ?? ''),
  );
  if (o.query === undefined) return path;
  const q =
    typeof o.query === 'string'
      ? o.query
      : new URLSearchParams(
          Object.entries(o.query).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])),
        ).toString();
  return q ? `${path}?${q}` : path;
}

export type ApiBar = ApiGet<'/api/bars'>['bars'][number];
export type SeriesInfo = ApiGet<'/api/symbols'>['symbols'][number];
/** The dashboard's sign-in (GET /api/session): a session cookie stands in for a key. */
export type SessionInfo = ApiGet<'/api/session'>;

let current: SessionInfo | null = null;
const signInNeeded = new Set<(message: string) => void>();

/** The session as last read (null before the first read). */
export const session = (): SessionInfo | null => current;

/** Calls `cb` when the server answers 401 (no key, or the session ended). */
export function onSignInNeeded(cb: (message: string) => void): () => void {
  signInNeeded.add(cb);
  return () => signInNeeded.delete(cb);
}

async function answer<T>(res: Response, path: string): Promise<T> {
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const message = (body as { message?: string }).message ?? `HTTP ${res.status} for ${path}`;
    // A refused sign-in is the form's to show; any other 401 means the session ended.
    if (res.status === 401 && !path.startsWith('/api/session')) {
      for (const cb of signInNeeded) cb(message);
    }
    throw new Error(message);
  }
  return body as T;
}

export async function getJson<P extends GetPath>(
  template: P,
  o?: {
    params?: Record<string, string>;
    query?: string | Record<string, string | number | undefined>;
  },
): Promise<ApiGet<P>> {
  const path = apiUrl(template, o);
  return answer<ApiGet<P>>(await fetch(path, { credentials: 'same-origin' }), path);
}

/** POSTs JSON with the session's CSRF token (the cookie goes along by itself). */
export async function postJson<P extends PostPath>(
  template: P,
  body?: unknown,
  o?: { params?: Record<string, string> },
): Promise<ApiPost<P>> {
  const path = apiUrl(template, o);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (current?.csrf) headers['x-csrf-token'] = current.csrf;
  return answer<ApiPost<P>>(
    await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers,
      body: JSON.stringify(body ?? {}),
    }),
    path,
  );
}

export async function loadSession(): Promise<SessionInfo> {
  current = await getJson('/api/session');
  return current;
}

export async function signIn(key: string): Promise<SessionInfo> {
  current = await postJson('/api/session', { key });
  return current;
}

export async function signOut(): Promise<SessionInfo> {
  current = await postJson('/api/session/logout');
  return current;
}

/**
 * Why an admin action cannot be done now, or null when it can: it needs a
 * session signed in with an admin key.
 */
export function adminBlocked(what: string): string | null {
  if (current?.scope === 'admin') return null;
  return `${what} needs an admin key: sign in with one (top right; tickline keys create --scope admin makes one)${current?.signedIn ? '. This session signed in with a read key' : ''}`;
}

export const INDICATORS = [
  'sma_20',
  'sma_50',
  'sma_200',
  'ema_12',
  'ema_26',
  'bb_upper',
  'bb_middle',
  'bb_lower',
  'rsi_14',
  'macd',
  'macd_signal',
  'macd_hist',
] as const;

/** The newest `limit` bars before `before` (all when absent), oldest first. */
export async function latestBars(
  symbol: string,
  interval: string,
  limit: number,
  before?: number,
): Promise<ApiBar[]> {
  const q = new URLSearchParams({
    symbol,
    interval,
    order: 'desc',
    limit: String(limit),
    indicators: INDICATORS.join(','),
  });
  if (before !== undefined) q.set('to', String(before));
  const r = await getJson('/api/bars', { query: q.toString() });
  return r.bars.reverse();
}
