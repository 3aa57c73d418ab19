// Per key per day counters, aggregated in memory and added to `usage_daily` every flush (and
// on shutdown), up to ROWS_PER_STATEMENT key-days in one upsert (db/batches.ts): no database
// write per request.
import { writeInStatements } from '../db/batches.ts';
import type { Db, Environment } from '../db/database.ts';

interface Counter {
  keyId: string;
  accountId: string;
  environment: Environment;
  day: string;
  requests: number;
  errors: number;
  credits: number;
}

const DAY_MS = 86_400_000;
// The UTC day of the last call: every request asks, and nearly all fall on the same day.
let lastDay = { start: 0, end: 0, name: '' };

export function dayOf(epochMs: number): string {
  if (epochMs >= lastDay.start && epochMs < lastDay.end) return lastDay.name;
  const start = Math.floor(epochMs / DAY_MS) * DAY_MS;
  lastDay = { start, end: start + DAY_MS, name: new Date(epochMs).toISOString().slice(0, 10) };
  return lastDay.name;
}

export class UsageRecorder {
  readonly #db: Db;
  #pending = new Map<string, Counter>();

  constructor(db: Db) {
    this.#db = db;
  }

  #counter(keyId: string, accountId: string, environment: Environment, at: number): Counter {
    const day = dayOf(at);
    const id = `${keyId}:${day}`;
    let counter = this.#pending.get(id);
    if (!counter) {
      counter = { keyId, accountId, environment, day, requests: 0, errors: 0, credits: 0 };
      this.#pending.set(id, counter);
    }
    return counter;
  }

  recordRequest(key: { id: string; accountId: string; environment: Environment }, at: number, failed: boolean, credits: number): void {
    const counter = this.#counter(key.id, key.accountId, key.environment, at);
    counter.requests += 1;
    if (failed) counter.errors += 1;
    counter.credits += credits;
  }

  /** Puts counts that could not be written back, to be added on the next flush. */
  #restore(counters: Counter[]): void {
    for (const c of counters) {
      const counter = this.#counter(c.keyId, c.accountId, c.environment, Date.parse(`${c.day}T00:00:00Z`));
      counter.requests += c.requests;
      counter.errors += c.errors;
      counter.credits += c.credits;
    }
  }

  async flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = [...this.#pending.values()];
    this.#pending = new Map();
    // Nothing is lost when the database is briefly away: the unwritten counts wait for the next flush.
    await writeInStatements(
      batch,
      (counters) => this.#write(counters),
      (unwritten) => this.#restore(unwritten),
    );
  }

  /** One multi-row upsert (a key-day appears once per batch, as the statement requires on PostgreSQL). */
  async #write(counters: Counter[]): Promise<void> {
    await this.#db
      .insertInto('usage_daily')
      .values(
        counters.map((c) => ({
          key_id: c.keyId,
          day: c.day,
          account_id: c.accountId,
          environment: c.environment,
          requests: c.requests,
          errors: c.errors,
          credits_charged: c.credits,
        })),
      )
      .onConflict((oc) =>
        oc.columns(['key_id', 'day']).doUpdateSet((eb) => ({
          requests: eb('usage_daily.requests', '+', eb.ref('excluded.requests')),
          errors: eb('usage_daily.errors', '+', eb.ref('excluded.errors')),
          credits_charged: eb('usage_daily.credits_charged', '+', eb.ref('excluded.credits_charged')),
        })),
      )
      .execute();
  }
}
