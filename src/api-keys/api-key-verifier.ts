// Turns a presented API key into a verified key record, or a reason to refuse it.
// The hot path of every keyed request: checksum first (no database work for garbage),
// then an in-process cache of verified keys, so that a known key costs no query.
//   - SQLite: this process is the only writer, and every key write evicts the entry
//     (invalidate) after it commits and before its response is sent.
//   - PostgreSQL: several instances write. A trigger announces every change to a key or
//     its secrets on the `keyscope_api_keys` channel (migration 2026-11-23T07-00-00), and
//     each instance evicts on the announcement (api-key-changes.ts). The cache is used only
//     while that LISTEN is up; entries are also reloaded after MAX_AGE_MS as a backstop.
// A load that raced with an eviction is not cached (the generation check), so a stale row
// can never outlive the change that made it stale.
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
/** How long a key write waits for its own announcement before answering anyway. */
const ANNOUNCEMENT_WAIT_MS = 2_000;

export interface VerifierOptions {
  /** Whether cached keys may be used from the start (SQLite); otherwise from setCaching(true). */
  cache: boolean;
  /** Entries older than this are loaded again; null: never. */
  maxAgeMs?: number | null;
}

interface Cached {
  key: VerifiedApiKey;
  loadedAt: number;
}

export class ApiKeyVerifier {
  readonly #db: Db;
  readonly #secret: string;
  readonly #clock: Clock;
  readonly #maxAgeMs: number | null;
  readonly #cache = new Map<string, Cached>();
  readonly #hashesByKey = new Map<string, Set<string>>();
  #caching: boolean;
  /** Bumped by every eviction: a load that saw it change does not cache what it read. */
  #generation = 0;
  /** Changes are announced to this instance (a LISTEN is up). */
  #announced = false;
  readonly #waiters = new Map<string, Set<() => void>>();

  constructor(db: Db, secret: string, clock: Clock, options: VerifierOptions) {
    this.#db = db;
    this.#secret = secret;
    this.#clock = clock;
    this.#caching = options.cache;
    this.#maxAgeMs = options.maxAgeMs ?? null;
  }

  /** Turns the cache on or off; either way it starts empty. */
  setCaching(on: boolean, announced = on): void {
    this.#caching = on;
    this.#announced = announced;
    this.#cache.clear();
    this.#hashesByKey.clear();
    this.#generation += 1;
  }

  get caching(): boolean {
    return this.#caching;
  }

  /** How many evictions (key writes, announcements, resets) this verifier has seen. */
  get generation(): number {
    return this.#generation;
  }

  hash(key: string): string {
    return hmacSha256(this.#secret, key);
  }

  async verify(presented: string): Promise<KeyCheck> {
    if (!parseApiKey(presented)) return { ok: false, reason: 'malformed' };
    const hash = this.hash(presented);
    // With announced changes (PostgreSQL), let the event loop finish the I/O it already has
    // before trusting the cache: when this request and the announcement of a change to its
    // key became readable in the same poll, the request may run first, and every microtask
    // of it would run before the announcement is read. setImmediate runs after the poll.
    if (this.#announced && this.#caching) await new Promise<void>((resolve) => setImmediate(resolve));
    const now = this.#clock.now();
    const cached = this.#caching ? this.#cache.get(hash) : undefined;
    let key = cached && (this.#maxAgeMs === null || now - cached.loadedAt < this.#maxAgeMs) ? cached.key : undefined;
    if (!key) {
      const generation = this.#generation;
      key = await this.#load(hash);
      if (!key) return { ok: false, reason: 'unknown' };
      if (this.#caching && generation === this.#generation) this.#remember(hash, key, now);
    }
    if (key.revokedAt !== null && key.revokedAt <= now) return { ok: false, reason: 'revoked' };
    if (key.secretExpiresAt !== null && key.secretExpiresAt <= now) return { ok: false, reason: 'revoked' };
    if (key.expiresAt !== null && key.expiresAt <= now) return { ok: false, reason: 'expired' };
    return { ok: true, key };
  }

  /**
   * Before a key write: returns a wait for the moment this instance hears the write's
   * announcement (PostgreSQL). PostgreSQL hands a NOTIFY to every listening instance at
   * once, so a write that answers only after hearing its own announcement answers after the
   * other instances have been told too: the caller's next request, to any instance, finds
   * the change. Without a listener (SQLite, or LISTEN down and the cache off) it is a no-op.
   */
  expectAnnouncement(keyId: string): { wait(): Promise<void>; cancel(): void } {
    if (!this.#announced) return { wait: async () => {}, cancel: () => {} };
    let heard!: () => void;
    const promise = new Promise<void>((resolve) => {
      heard = resolve;
    });
    let waiters = this.#waiters.get(keyId);
    if (!waiters) {
      waiters = new Set();
      this.#waiters.set(keyId, waiters);
    }
    const mine = waiters;
    mine.add(heard);
    const forget = () => {
      mine.delete(heard);
      if (mine.size === 0 && this.#waiters.get(keyId) === mine) this.#waiters.delete(keyId);
    };
    return {
      async wait() {
        const timer = setTimeout(heard, ANNOUNCEMENT_WAIT_MS);
        await promise;
        clearTimeout(timer);
        forget();
      },
      cancel: forget,
    };
  }

  /** A change to the key was announced (PostgreSQL LISTEN): evict it and release the writers waiting for it. */
  announced(keyId: string): void {
    this.invalidate(keyId);
    for (const heard of this.#waiters.get(keyId) ?? []) heard();
  }

  /** Called by every write to a key after it commits and before its response is sent, and for every announced change. */
  invalidate(keyId: string): void {
    this.#generation += 1;
    const hashes = this.#hashesByKey.get(keyId);
    if (!hashes) return;
    for (const hash of hashes) this.#cache.delete(hash);
    this.#hashesByKey.delete(keyId);
  }

  #remember(hash: string, key: VerifiedApiKey, loadedAt: number): void {
    if (this.#cache.size >= MAX_CACHED) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) {
        const evicted = this.#cache.get(oldest);
        this.#cache.delete(oldest);
        if (evicted) this.#hashesByKey.get(evicted.key.id)?.delete(oldest);
      }
    }
    this.#cache.set(hash, { key, loadedAt });
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
