// Every rate limit of the server, built once by createApp and shared through AppDeps.
import type { Config } from '../config.ts';
import type { DatabaseHandle } from '../db/connect.ts';
import type { Clock } from '../deps.ts';
import { AccountAttemptLimits } from './account-limits.ts';
import { CostBudget } from './cost-budget.ts';
import { KeyRequestLimiter } from './key-request-limit.ts';
import { LimiterStore } from './limiter-store.ts';

export interface RateLimits {
  /** Requests per API key (HTTP 429 past it). */
  requests: KeyRequestLimiter;
  /** Query-cost budget per API key. */
  cost: CostBudget;
  /** Sign-in, registration, token and email attempts per account and per IP. */
  accounts: AccountAttemptLimits;
}

export function createRateLimits(config: Pick<Config, 'defaultRateLimit' | 'authIpLimit'>, database: DatabaseHandle, clock: Clock): RateLimits {
  const store = new LimiterStore(database);
  return {
    requests: new KeyRequestLimiter(store, config.defaultRateLimit, clock),
    cost: new CostBudget(store, clock),
    accounts: new AccountAttemptLimits(store, config),
  };
}
