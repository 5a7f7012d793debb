/**
 * API keys: `tk_<id>_<secret>`. The id finds the record; only SHA-256 of a
 * per-key salt and the secret is stored, and it is compared in constant
 * time. Admin keys can do everything; read keys only read.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyRecord, ApiScope, Store } from '../store/store.ts';

const KEY = /^tk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

const digest = (salt: string, secret: string): string =>
  createHash('sha256').update(salt).update(secret).digest('hex');

/** Makes a new key: the text to give the user (once) and the record to store. */
export function newApiKey(
  scope: ApiScope,
  name: string | null,
): { key: string; record: ApiKeyRecord } {
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const salt = randomBytes(16).toString('hex');
  return {
    key: `tk_${id}_${secret}`,
    record: {
      id,
      name,
      scope,
      salt,
      hash: digest(salt, secret),
      createdAt: Date.now(),
      revokedAt: null,
    },
  };
}

export type AuthResult =
  | { ok: true; id: string; scope: ApiScope }
  | { ok: false; reason: 'missing' | 'malformed' | 'unknown' | 'revoked' };

/** Checks an Authorization header against the stored keys. */
export class KeyChecker {
  readonly #store: Store;
  /** Records by id for a few seconds, so a burst of requests costs one lookup. */
  readonly #cache = new Map<string, { record: ApiKeyRecord | null; until: number }>();
  /** Authorization headers that passed, with their key id, for a few seconds (rate limiting). */
  readonly #passed = new Map<string, { id: string; until: number }>();

  constructor(store: Store) {
    this.#store = store;
  }

  async check(authorization: string | undefined): Promise<AuthResult> {
    if (!authorization) return { ok: false, reason: 'missing' };
    const m = /^Bearer\s+(\S+)$/i.exec(authorization);
    const k = m ? KEY.exec(m[1]!) : null;
    if (!k) return { ok: false, reason: 'malformed' };
    const [, id, secret] = k as unknown as [string, string, string];
    const rec = await this.#record(id);
    if (!rec) return { ok: false, reason: 'unknown' };
    const want = Buffer.from(rec.hash, 'hex');
    const got = Buffer.from(digest(rec.salt, secret), 'hex');
    if (want.length !== got.length || !timingSafeEqual(want, got))
      return { ok: false, reason: 'unknown' };
    if (rec.revokedAt !== null) return { ok: false, reason: 'revoked' };
    if (this.#passed.size > 10_000) this.#passed.clear();
    this.#passed.set(authorization, { id, until: Date.now() + 5_000 });
    return { ok: true, id, scope: rec.scope };
  }

  /** A signed-in session's key, checked again (it may have been revoked since). */
  async checkId(id: string): Promise<AuthResult> {
    const rec = await this.#record(id);
    if (!rec) return { ok: false, reason: 'unknown' };
    if (rec.revokedAt !== null) return { ok: false, reason: 'revoked' };
    return { ok: true, id, scope: rec.scope };
  }

  /** The stored record of a key id, cached for a few seconds: a burst of requests costs one lookup. */
  async #record(id: string): Promise<ApiKeyRecord | null> {
    const now = Date.now();
    let hit = this.#cache.get(id);
    if (!hit || hit.until < now) {
      hit = { record: await this.#store.capability('keys').getApiKey(id), until: now + 5_000 };
      this.#cache.set(id, hit);
      if (this.#cache.size > 10_000) this.#cache.clear();
    }
    return hit.record;
  }

  /**
   * The key id of a header that passed `check` in the last few seconds, or
   * null: a made-up key never gets a rate-limit bucket of its own.
   */
  verifiedId(authorization: string | undefined): string | null {
    if (!authorization) return null;
    const hit = this.#passed.get(authorization);
    return hit && hit.until >= Date.now() ? hit.id : null;
  }

  /** Forgets cached records (after a revoke). */
  forget(): void {
    this.#cache.clear();
    this.#passed.clear();
  }
}
