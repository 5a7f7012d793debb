/** The few API calls the dashboard makes; errors become readable messages. */

export interface ApiBar {
  symbol: string;
  interval: string;
  ts: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  vwap?: number | null;
  indicators?: Record<string, number | null>;
}

export interface SeriesInfo {
  symbol: string;
  /** A bar interval, or 'trades'. */
  interval: string;
  /** Bars or trades stored, or rejects only (nothing stored for it). */
  kind: 'bars' | 'trades' | 'rejects';
  rows: number;
  firstTs: number | null;
  lastTs: number | null;
  freshnessMs: number | null;
  rejects: number;
}

/** The dashboard's sign-in (GET /api/session): a session cookie stands in for a key. */
export interface SessionInfo {
  keyRequired: boolean;
  signedIn: boolean;
  scope: 'read' | 'admin' | null;
  keyId: string | null;
  csrf: string | null;
}

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

export async function getJson<T>(path: string): Promise<T> {
  return answer<T>(await fetch(path, { credentials: 'same-origin' }), path);
}

/** POSTs JSON with the session's CSRF token (the cookie goes along by itself). */
export async function postJson<T>(path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (current?.csrf) headers['x-csrf-token'] = current.csrf;
  return answer<T>(
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
  current = await answer<SessionInfo>(await fetch('/api/session'), '/api/session');
  return current;
}

export async function signIn(key: string): Promise<SessionInfo> {
  current = await postJson<SessionInfo>('/api/session', { key });
  return current;
}

export async function signOut(): Promise<SessionInfo> {
  current = await postJson<SessionInfo>('/api/session/logout');
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
  const r = await getJson<{ bars: ApiBar[] }>(`/api/bars?${q}`);
  return r.bars.reverse();
}
