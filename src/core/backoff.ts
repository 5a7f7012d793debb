/** Exponential backoff with jitter, shared by every retry loop (HTTP, WebSocket reconnects, log delivery). */

/**
 * The pause before retry number `attempt` (1-based): an exponential cap,
 * `baseDelayMs · 2^(attempt−1)` up to `maxDelayMs`, jittered over its upper
 * half, so retries never bunch up and never come sooner than half the cap.
 */
export function backoffMs(
  attempt: number,
  policy: { baseDelayMs: number; maxDelayMs: number },
  random = Math.random,
): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(cap / 2 + (random() * cap) / 2);
}
