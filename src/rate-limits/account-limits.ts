// Limits on the public account flows, counted by the services at each attempt (not per HTTP
// request), so aliases in one operation cannot multiply guesses:
//   - sign-in: at most SIGN_IN_PER_ACCOUNT failed passwords per account (email) per window;
//     past it the account refuses every sign-in, the right password included, until the
//     window ends. An attempt is counted before the password is checked (concurrent guesses
//     cannot slip past the count) and given back when it succeeds;
//   - emails sent on request (verification again, password reset): EMAILS_PER_ADDRESS per
//     address per hour, whether or not the address has an account (the answer stays the same);
//   - per client IP (IPv6: per /64), one budget (`KEYSCOPE_AUTH_IP_LIMIT`) for failed
//     sign-ins, registrations, failed token redemptions and emails asked for.
// Counters for unknown emails behave exactly like those for known ones: no enumeration.
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { normaliseIp } from '../api-keys/restrictions.ts';
import type { Config } from '../config.ts';
import { rateLimited } from '../errors.ts';
import { sha256 } from '../ids.ts';
import type { LimiterStore } from './limiter-store.ts';

export const SIGN_IN_PER_ACCOUNT = { attempts: 10, windowSeconds: 15 * 60 } as const;
export const EMAILS_PER_ADDRESS = { emails: 5, windowSeconds: 60 * 60 } as const;

/** Gives back an attempt that turned out to be legitimate (right password, valid token). */
export interface Attempt {
  succeeded(): Promise<void>;
}

/** IPv6 clients usually hold a whole /64; counting per address would let them rotate. */
export function ipBucket(ip: string): string {
  const address = normaliseIp(ip);
  if (!address) return ip.slice(0, 64);
  if (address.kind() === 'ipv4') return address.toString();
  const parts = address.toNormalizedString().split(':').slice(0, 4);
  return `${parts.join(':')}::/64`;
}

async function take(limiter: RateLimiterAbstract, key: string, message: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (error) {
    if (error instanceof RateLimiterRes) {
      const seconds = Math.max(1, Math.ceil(error.msBeforeNext / 1000));
      throw rateLimited(seconds, `${message} Try again in ${seconds} seconds.`);
    }
    throw error;
  }
}

export class AccountAttemptLimits {
  readonly #store: LimiterStore;
  readonly #perIp: RateLimiterAbstract;
  readonly #signIn: RateLimiterAbstract;
  readonly #emails: RateLimiterAbstract;

  constructor(store: LimiterStore, config: Pick<Config, 'authIpLimit'>) {
    this.#store = store;
    this.#perIp = store.limiter({ keyPrefix: 'account-ip', points: config.authIpLimit.requests, duration: config.authIpLimit.windowSeconds });
    this.#signIn = store.limiter({ keyPrefix: 'sign-in', points: SIGN_IN_PER_ACCOUNT.attempts, duration: SIGN_IN_PER_ACCOUNT.windowSeconds });
    this.#emails = store.limiter({ keyPrefix: 'email', points: EMAILS_PER_ADDRESS.emails, duration: EMAILS_PER_ADDRESS.windowSeconds });
  }

  async #fromIp(ip: string): Promise<string> {
    await this.#store.ready();
    const key = ipBucket(ip);
    await take(this.#perIp, key, 'Too many attempts from this address.');
    return key;
  }

  /** Before a password is checked. `email` is the normalised address (or the raw input if it is not one). */
  async signIn(email: string, ip: string): Promise<Attempt> {
    const ipKey = await this.#fromIp(ip);
    const accountKey = sha256(email);
    await take(this.#signIn, accountKey, 'Too many failed sign-ins for this account.');
    return {
      succeeded: async () => {
        await Promise.all([this.#signIn.reward(accountKey), this.#perIp.reward(ipKey)]);
      },
    };
  }

  /** Before an account is created. */
  async registration(ip: string): Promise<void> {
    await this.#fromIp(ip);
  }

  /** Before a one-time token (email verification, password reset) is redeemed. */
  async tokenRedemption(ip: string): Promise<Attempt> {
    const ipKey = await this.#fromIp(ip);
    return { succeeded: async () => void (await this.#perIp.reward(ipKey)) };
  }

  /** Before an email is sent on request; `email` is normalised, or null when it is not an address. */
  async emailRequest(email: string | null, ip: string): Promise<void> {
    await this.#fromIp(ip);
    if (email !== null) await take(this.#emails, sha256(email), 'Too many emails asked for this address.');
  }
}
