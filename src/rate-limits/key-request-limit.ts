// Requests per key: the key's own `rateLimit` or the configured default, counted in fixed
// windows that start with the key's first request. Advertised on every keyed response with
// the IETF draft headers (draft-ietf-httpapi-ratelimit-headers):
//   RateLimit-Policy: "key";q=100;w=1     (quota per window, window in seconds)
//   RateLimit: "key";r=99;t=1             (remaining, seconds until the window resets)
import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import type { LimiterStore } from './limiter-store.ts';

export interface RequestLimit {
  requests: number;
  windowSeconds: number;
}

export interface RequestLimitDecision {
  allowed: boolean;
  limit: RequestLimit;
  remaining: number;
  /** Seconds until the window resets (at least 1 while it is open). */
  resetSeconds: number;
  headers: Record<string, string>;
}

// The limiter itself never refuses (its quota is out of reach): each key has its own quota,
// compared here with the count the store returns.
const UNREACHABLE = 2 ** 31 - 1;

export class KeyRequestLimiter {
  readonly #store: LimiterStore;
  readonly #limiter: RateLimiterAbstract;
  readonly #defaultLimit: RequestLimit;

  constructor(store: LimiterStore, defaultLimit: RequestLimit) {
    this.#store = store;
    this.#defaultLimit = defaultLimit;
    this.#limiter = store.limiter({ keyPrefix: 'key', points: UNREACHABLE, duration: defaultLimit.windowSeconds });
  }

  /** Counts one request of the key and says whether it is within its quota. */
  async consume(keyId: string, own: RequestLimit | null): Promise<RequestLimitDecision> {
    const limit = own ?? this.#defaultLimit;
    await this.#store.ready();
    // The window length is part of the counter's name: changing it starts a fresh window.
    let res: RateLimiterRes;
    try {
      res = await this.#limiter.consume(`${keyId}:${limit.windowSeconds}`, 1, { customDuration: limit.windowSeconds });
    } catch (error) {
      // rate-limiter-flexible rejects with a RateLimiterRes when over its own quota, which
      // UNREACHABLE rules out; anything else is a store failure its insurance could not absorb.
      throw error instanceof Error ? error : new Error('rate limiter refused unexpectedly');
    }
    const remaining = Math.max(0, limit.requests - res.consumedPoints);
    const resetSeconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
    return {
      allowed: res.consumedPoints <= limit.requests,
      limit,
      remaining,
      resetSeconds,
      headers: {
        'RateLimit-Policy': `"key";q=${limit.requests};w=${limit.windowSeconds}`,
        RateLimit: `"key";r=${remaining};t=${resetSeconds}`,
      },
    };
  }
}
