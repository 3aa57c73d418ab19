// Query-cost budgets for API keys, Shopify's model: a bucket of COST_BUDGET.capacity points
// that refills at COST_BUDGET.restorePerSecond; each operation's calculated cost is taken
// from it before execution. Stored as a GCRA "theoretical arrival time" (tat): the moment the
// bucket would be full again. One number per key, updated by one conditional statement, so
// concurrent requests (and several instances on PostgreSQL) can never overspend it.
import { sql } from 'kysely';
import type { DatabaseHandle } from '../db/connect.ts';
import type { Clock } from '../deps.ts';
import { COST_BUDGET_TABLE, type LimiterStore } from './limiter-store.ts';

export const COST_BUDGET = {
  /** Points a key can spend at once (also the most a single operation may cost). */
  capacity: 1000,
  /** Points given back per second. */
  restorePerSecond: 50,
} as const;

const MS_PER_POINT = 1000 / COST_BUDGET.restorePerSecond;
const CAPACITY_MS = Math.round(COST_BUDGET.capacity * MS_PER_POINT);
const MAX_REMEMBERED = 100_000;

export interface CostSpend {
  allowed: boolean;
  requested: number;
  /** Points left after this operation (or now, when refused). */
  remaining: number;
  /** When refused: seconds until the bucket holds enough. */
  retryAfterSeconds: number;
}

function remainingAt(tat: number, now: number): number {
  return Math.floor((CAPACITY_MS - Math.max(0, tat - now)) / MS_PER_POINT);
}

function refused(requested: number, tat: number, now: number): CostSpend {
  const waitMs = Math.max(0, tat + requested * MS_PER_POINT - CAPACITY_MS - now);
  return { allowed: false, requested, remaining: remainingAt(tat, now), retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
}

export class CostBudget {
  readonly #store: LimiterStore;
  readonly #database: DatabaseHandle;
  readonly #clock: Clock;
  readonly #memory = new Map<string, number>();

  constructor(store: LimiterStore, database: DatabaseHandle, clock: Clock) {
    this.#store = store;
    this.#database = database;
    this.#clock = clock;
  }

  /** Takes `requested` points from the key's bucket if it holds that many. */
  async spend(keyId: string, requested: number): Promise<CostSpend> {
    const now = this.#clock.now();
    if (requested > COST_BUDGET.capacity) throw new RangeError('cost above capacity must be refused before spending');
    // Whole milliseconds: the PostgreSQL column is a bigint.
    const costMs = Math.ceil(requested * MS_PER_POINT);
    if (!this.#store.shared) return this.#spendInMemory(keyId, requested, costMs, now);

    await this.#store.ready();
    const db = this.#database.db;
    const table = sql.table(COST_BUDGET_TABLE);
    const spent = await sql<{ tat: number }>`
      insert into ${table} as b (key, tat) values (${keyId}, ${now + costMs})
      on conflict (key) do update set tat = greatest(b.tat, ${now}) + ${costMs}
      where greatest(b.tat, ${now}) + ${costMs} - ${now} <= ${CAPACITY_MS}
      returning tat`.execute(db);
    const row = spent.rows[0];
    if (row) return { allowed: true, requested, remaining: remainingAt(Number(row.tat), now), retryAfterSeconds: 0 };
    const current = await sql<{ tat: number }>`select tat from ${table} where key = ${keyId}`.execute(db);
    return refused(requested, Number(current.rows[0]?.tat ?? now), now);
  }

  #spendInMemory(keyId: string, requested: number, costMs: number, now: number): CostSpend {
    const tat = Math.max(this.#memory.get(keyId) ?? now, now);
    if (tat + costMs - now > CAPACITY_MS) return refused(requested, tat, now);
    if (this.#memory.size >= MAX_REMEMBERED) this.#forgetFullBuckets(now);
    this.#memory.set(keyId, tat + costMs);
    return { allowed: true, requested, remaining: remainingAt(tat + costMs, now), retryAfterSeconds: 0 };
  }

  /** A bucket whose tat has passed is full: forgetting it changes nothing. */
  #forgetFullBuckets(now: number): void {
    for (const [key, tat] of this.#memory) if (tat <= now) this.#memory.delete(key);
  }
}
