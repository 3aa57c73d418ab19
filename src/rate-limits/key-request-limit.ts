// Requests per key: the key's own `rateLimit` or the configured default, counted in fixed
// windows that start with the key's first request. Advertised on every keyed response with
// the IETF draft headers (draft-ietf-httpapi-ratelimit-headers):
//   RateLimit-Policy: "key";q=100;w=1     (quota per window, window in seconds)
//   RateLimit: "key";r=99;t=1             (remaining, seconds until the window resets)
//
// SQLite (one process): an in-memory counter per key, exact.
// PostgreSQL (instances share the window in keyscope_rate_limits): an instance reserves a
// slice of the window's quota in one statement, which counts the whole slice at once, and
// admits the key's next requests from that slice without asking the database, until it is
// used up or the window ends. Slices are a tenth of the quota (one request when the quota is
// below 20, which is exactly per-request counting): a key used from one instance goes to the
// database once per window, ten times if it uses its whole quota, and a slice held by an idle
// instance keeps at most a tenth of the quota from the others until the window ends.
// Concurrent requests of one key wait for the one reservation in flight rather than each
// making their own. Once a reservation has seen the window full, the instance refuses the key
// without asking again until the window ends (a fixed window only fills up).
import type { Clock } from '../deps.ts';
import { grantedRequests, type CountedWindow, type LimiterStore } from './limiter-store.ts';

export interface RequestLimit {
  requests: number;
  windowSeconds: number;
}

export interface RequestLimitDecision {
  allowed: boolean;
  limit: RequestLimit;
  /**
   * Requests left in the window as this instance sees it: the quota less everything counted
   * in the shared window at this instance's last reservation, plus what its slice still
   * holds. Exact for a key used from one instance; another instance's requests since that
   * reservation are not in it.
   */
  remaining: number;
  /** Seconds until the window resets (at least 1 while it is open). */
  resetSeconds: number;
  headers: Record<string, string>;
}

/** A reservation takes at most this fraction of the quota. */
const SLICE_DIVISOR = 10;
const MAX_REMEMBERED = 100_000;

export function requestSlice(quota: number): number {
  return Math.max(1, Math.floor(quota / SLICE_DIVISOR));
}

/** This instance's part of one key's shared window. */
interface WindowSlice {
  /** The quota the slice was reserved under: a key whose quota changes starts over. */
  quota: number;
  expire: number;
  /** Requests reserved and not yet admitted. */
  held: number;
  /** The shared window's count at the last reservation, at most the quota. */
  counted: number;
  /** The reservation in flight: resolves to false when the database failed. */
  reserving: Promise<boolean> | null;
}

/** Fixed windows in this process's memory: the counters on SQLite, the insurance on PostgreSQL. */
class MemoryWindows {
  readonly #windows = new Map<string, CountedWindow>();

  add(name: string, points: number, windowMs: number, now: number): CountedWindow {
    const current = this.#windows.get(name);
    if (current && current.expire > now) {
      current.points += points;
      return current;
    }
    if (!current && this.#windows.size >= MAX_REMEMBERED) this.#forgetEnded(now);
    const opened = { points, expire: now + windowMs };
    this.#windows.set(name, opened);
    return opened;
  }

  #forgetEnded(now: number): void {
    for (const [name, window] of this.#windows) if (window.expire <= now) this.#windows.delete(name);
  }
}

function decide(limit: RequestLimit, allowed: boolean, remaining: number, expire: number, now: number): RequestLimitDecision {
  const resetSeconds = Math.max(1, Math.ceil((expire - now) / 1000));
  return {
    allowed,
    limit,
    remaining,
    resetSeconds,
    headers: {
      'RateLimit-Policy': `"key";q=${limit.requests};w=${limit.windowSeconds}`,
      RateLimit: `"key";r=${remaining};t=${resetSeconds}`,
    },
  };
}

export class KeyRequestLimiter {
  readonly #store: LimiterStore;
  readonly #defaultLimit: RequestLimit;
  readonly #clock: Clock;
  readonly #memory = new MemoryWindows();
  readonly #slices = new Map<string, WindowSlice>();

  constructor(store: LimiterStore, defaultLimit: RequestLimit, clock: Clock) {
    this.#store = store;
    this.#defaultLimit = defaultLimit;
    this.#clock = clock;
  }

  /** Counts one request of the key and says whether it is within its quota. */
  async consume(keyId: string, own: RequestLimit | null): Promise<RequestLimitDecision> {
    const limit = own ?? this.#defaultLimit;
    // The window length is part of the counter's name: changing it starts a fresh window.
    const name = `key:${keyId}:${limit.windowSeconds}`;
    if (!this.#store.shared) return this.#countInMemory(name, limit);
    for (;;) {
      const now = this.#clock.now();
      const slice = this.#slices.get(name);
      if (slice?.reserving) {
        // The database failed for the reservation this request waited for: insurance.
        if (!(await slice.reserving)) return this.#countInMemory(name, limit);
        continue;
      }
      if (slice && slice.expire > now && slice.quota === limit.requests) {
        if (slice.held > 0) return this.#admit(slice, limit, now);
        if (slice.counted >= limit.requests) return decide(limit, false, 0, slice.expire, now);
      }
      const decision = await this.#reserve(name, limit, now);
      return decision ?? this.#countInMemory(name, limit);
    }
  }

  #admit(slice: WindowSlice, limit: RequestLimit, now: number): RequestLimitDecision {
    slice.held -= 1;
    return decide(limit, true, limit.requests - slice.counted + slice.held, slice.expire, now);
  }

  /**
   * Reserves a slice for `name` and decides this request from it; every request of the key
   * arriving meanwhile waits for the reservation. Null when the database failed.
   */
  async #reserve(name: string, limit: RequestLimit, now: number): Promise<RequestLimitDecision | null> {
    if (!this.#slices.has(name) && this.#slices.size >= MAX_REMEMBERED) this.#forgetEnded(now);
    const slice: WindowSlice = this.#slices.get(name) ?? { quota: limit.requests, expire: 0, held: 0, counted: 0, reserving: null };
    this.#slices.set(name, slice);
    const asked = requestSlice(limit.requests);
    let decision: RequestLimitDecision | null = null;
    const reserving = this.#store.reserveInWindow(name, asked, limit.windowSeconds * 1000, now).then(
      (window) => {
        // Whatever an earlier slice still held (another window, another quota) is given up:
        // it was counted, so dropping it can only under-admit.
        slice.quota = limit.requests;
        slice.expire = window.expire;
        slice.held = grantedRequests(window, asked, limit.requests);
        slice.counted = Math.min(window.points, limit.requests);
        slice.reserving = null;
        // The request that reserved goes first; those that waited share what is left.
        decision = slice.held > 0 ? this.#admit(slice, limit, now) : decide(limit, false, 0, slice.expire, now);
        return true;
      },
      () => {
        slice.reserving = null;
        return false;
      },
    );
    slice.reserving = reserving;
    await reserving;
    return decision;
  }

  #countInMemory(name: string, limit: RequestLimit): RequestLimitDecision {
    const now = this.#clock.now();
    const window = this.#memory.add(name, 1, limit.windowSeconds * 1000, now);
    return decide(limit, window.points <= limit.requests, Math.max(0, limit.requests - window.points), window.expire, now);
  }

  #forgetEnded(now: number): void {
    for (const [name, slice] of this.#slices) if (!slice.reserving && slice.expire <= now) this.#slices.delete(name);
  }
}
