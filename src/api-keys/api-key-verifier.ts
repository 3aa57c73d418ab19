// Turns a presented API key into a verified key record, or a reason to refuse it.
// The hot path of every keyed request: checksum first (no database work for garbage),
// then an in-process cache on SQLite, whose only writer is this process, so every key
// change evicts the entry before the change's response is sent. On PostgreSQL several
// instances write, so every request reads the key (one indexed look-up) and revocation
// is exact across instances.
import type { Db, Environment, Scope } from '../db/database.ts';
import type { Clock } from '../deps.ts';
import { hmacSha256 } from '../ids.ts';
import { parseApiKey } from './api-key-format.ts';
import { type ApiKey, apiKeyRowToApiKey } from './api-keys.queries.ts';
import { compileRanges } from './restrictions.ts';

export interface VerifiedApiKey {
  id: string;
  accountId: string;
  name: string;
  scope: Scope;
  environment: Environment;
  expiresAt: number | null;
  revokedAt: number | null;
  /** End of the grace period of a rolled secret; null for the current secret. */
  secretExpiresAt: number | null;
  allowedIps: ReturnType<typeof compileRanges>;
  allowedReferrers: string[];
  allowedOperations: string[];
  rateLimit: { requests: number; windowSeconds: number } | null;
  /**
   * The key as the dashboard shows it, as loaded with the verification. Every field but
   * `lastUsedAt`/`lastUsedIp` (written by batched flushes, behind the cache's back) is as
   * fresh as the verification itself: `viewer { apiKey }` answers from it without a query.
   */
  record: ApiKey;
}

export type KeyCheck =
  | { ok: true; key: VerifiedApiKey }
  | { ok: false; reason: 'malformed' | 'unknown' | 'revoked' | 'expired' };

const MAX_CACHED = 20_000;

export class ApiKeyVerifier {
  readonly #db: Db;
  readonly #secret: string;
  readonly #clock: Clock;
  readonly #cache: Map<string, VerifiedApiKey> | null;
  readonly #hashesByKey = new Map<string, Set<string>>();

  constructor(db: Db, secret: string, clock: Clock, options: { cache: boolean }) {
    this.#db = db;
    this.#secret = secret;
    this.#clock = clock;
    this.#cache = options.cache ? new Map() : null;
  }

  hash(key: string): string {
    return hmacSha256(this.#secret, key);
  }

  async verify(presented: string): Promise<KeyCheck> {
    if (!parseApiKey(presented)) return { ok: false, reason: 'malformed' };
    const hash = this.hash(presented);
    let key = this.#cache?.get(hash);
    if (!key) {
      key = await this.#load(hash);
      if (!key) return { ok: false, reason: 'unknown' };
      this.#remember(hash, key);
    }
    const now = this.#clock.now();
    if (key.revokedAt !== null && key.revokedAt <= now) return { ok: false, reason: 'revoked' };
    if (key.secretExpiresAt !== null && key.secretExpiresAt <= now) return { ok: false, reason: 'revoked' };
    if (key.expiresAt !== null && key.expiresAt <= now) return { ok: false, reason: 'expired' };
    return { ok: true, key };
  }

  /** Called by every write to a key, after it commits and before its response is sent. */
  invalidate(keyId: string): void {
    const hashes = this.#hashesByKey.get(keyId);
    if (!hashes || !this.#cache) return;
    for (const hash of hashes) this.#cache.delete(hash);
    this.#hashesByKey.delete(keyId);
  }

  #remember(hash: string, key: VerifiedApiKey): void {
    if (!this.#cache) return;
    if (this.#cache.size >= MAX_CACHED) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) {
        const evicted = this.#cache.get(oldest);
        this.#cache.delete(oldest);
        if (evicted) this.#hashesByKey.get(evicted.id)?.delete(oldest);
      }
    }
    this.#cache.set(hash, key);
    let hashes = this.#hashesByKey.get(key.id);
    if (!hashes) {
      hashes = new Set();
      this.#hashesByKey.set(key.id, hashes);
    }
    hashes.add(hash);
  }

  async #load(hash: string): Promise<VerifiedApiKey | undefined> {
    const row = await this.#db
      .selectFrom('api_key_secrets as s')
      .innerJoin('api_keys as k', 'k.id', 's.key_id')
      .selectAll('k')
      .select('s.expires_at as secret_expires_at')
      .where('s.hash', '=', hash)
      .executeTakeFirst();
    if (!row) return undefined;
    const { secret_expires_at, ...keyRow } = row;
    const record = apiKeyRowToApiKey(keyRow);
    return {
      id: row.id,
      accountId: row.account_id,
      name: row.name,
      scope: row.scope,
      environment: row.environment,
      expiresAt: row.expires_at,
      revokedAt: row.revoked_at,
      secretExpiresAt: secret_expires_at,
      allowedIps: compileRanges(record.restrictions.allowedIps),
      allowedReferrers: record.restrictions.allowedReferrers,
      allowedOperations: record.restrictions.allowedOperations,
      rateLimit: record.rateLimit,
      record,
    };
  }
}
