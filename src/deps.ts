// What the application is made of, built once by `createApp` and handed to every service.
import type { Config } from './config.ts';
import type { ApiKeyVerifier } from './api-keys/api-key-verifier.ts';
import type { LastUsedTracker } from './api-keys/last-used.ts';
import type { DatabaseHandle } from './db/connect.ts';
import type { Db } from './db/database.ts';
import type { Mailer } from './mail/mailer.ts';
import type { RateLimits } from './rate-limits/rate-limits.ts';
import type { UsageRecorder } from './usage/usage-recorder.ts';

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface AppDeps {
  config: Config;
  database: DatabaseHandle;
  db: Db;
  clock: Clock;
  mailer: Mailer;
  keys: ApiKeyVerifier;
  lastUsed: LastUsedTracker;
  usage: UsageRecorder;
  rateLimits: RateLimits;
  /** Names of every Query and Mutation field, for validating `allowedOperations`. */
  rootFieldNames: Set<string>;
}
