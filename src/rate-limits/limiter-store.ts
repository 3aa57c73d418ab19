// Where counters live. SQLite means one server process, so counters stay in its memory.
// PostgreSQL means possibly several instances behind a load balancer, so counters live in
// two tables of their own that every instance shares: `keyscope_rate_limits` (the layout
// rate-limiter-flexible expects) and `keyscope_cost_budgets` (query-cost budgets).
import { sql } from 'kysely';
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterPostgres } from 'rate-limiter-flexible';
import type { DatabaseHandle } from '../db/connect.ts';

export const RATE_LIMIT_TABLE = 'keyscope_rate_limits';
export const COST_BUDGET_TABLE = 'keyscope_cost_budgets';

export interface LimiterOptions {
  /** Distinguishes limiters that share the table. */
  keyPrefix: string;
  points: number;
  /** Window in seconds; a call may override it with `customDuration`. */
  duration: number;
}

/**
 * The tables are created at first use rather than by a migration: they hold nothing worth
 * keeping, and rate-limiter-flexible owns their layout. An advisory lock per schema makes
 * concurrent start-ups (several instances, parallel test schemas) safe.
 */
export class LimiterStore {
  readonly #database: DatabaseHandle;
  #ready: Promise<void> | null = null;
  #sweeperStarted = false;

  constructor(database: DatabaseHandle) {
    this.#database = database;
  }

  get shared(): boolean {
    return this.#database.dialect === 'postgres';
  }

  /** Resolves once the tables exist; a failed attempt is retried by the next caller. */
  ready(): Promise<void> {
    if (!this.shared) return Promise.resolve();
    if (!this.#ready) {
      this.#ready = this.#createTables().catch((error: unknown) => {
        this.#ready = null;
        throw error;
      });
    }
    return this.#ready;
  }

  async #createTables(): Promise<void> {
    await this.#database.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext(current_schema() || '.keyscope_rate_limits'))`.execute(trx);
      await sql`create table if not exists ${sql.table(RATE_LIMIT_TABLE)} (
        key varchar(255) primary key,
        points integer not null default 0,
        expire bigint
      )`.execute(trx);
      await sql`create table if not exists ${sql.table(COST_BUDGET_TABLE)} (
        key varchar(255) primary key,
        tat bigint not null
      )`.execute(trx);
    });
  }

  /** A fixed-window limiter: in memory on SQLite, in the shared table on PostgreSQL. */
  limiter(options: LimiterOptions): RateLimiterAbstract {
    const memory = new RateLimiterMemory(options);
    const pool = this.#database.pgPool;
    if (!this.shared || !pool) return memory;
    // Only one limiter sweeps expired rows (the sweep covers the whole table).
    const sweep = !this.#sweeperStarted;
    this.#sweeperStarted = true;
    return new RateLimiterPostgres({
      ...options,
      storeClient: pool,
      storeType: 'pool',
      tableName: RATE_LIMIT_TABLE,
      tableCreated: true,
      clearExpiredByTimeout: sweep,
      // If the database fails mid-request, count in memory rather than fail the request.
      insuranceLimiter: memory,
    });
  }
}
