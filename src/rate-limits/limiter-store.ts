// Where counters live. SQLite means one server process, so counters stay in its memory.
// PostgreSQL means possibly several instances behind a load balancer, so counters live in
// two tables of their own that every instance shares: `keyscope_rate_limits` (the layout
// rate-limiter-flexible expects; the per-key request windows use it too) and
// `keyscope_cost_budgets` (query-cost budgets).
//
// The two per-request counters (requests per key, query cost per key) do not ask the table
// on every request: an instance reserves a slice of the key's quota in one statement, which
// charges the shared counter for the whole slice at once, and spends the slice locally
// (key-request-limit.ts, cost-budget.ts). Instances together can therefore never pass a
// limit: whatever one of them holds has already been counted for all.
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

/** A fixed window of a shared counter after a reservation. */
export interface CountedWindow {
  /** Everything counted in the window so far, this reservation included (it may pass the quota). */
  points: number;
  /** When the window ends (ms since the epoch). */
  expire: number;
}

/** A cost budget after a reservation. */
export interface ReservedBudget {
  /** The budget's "theoretical arrival time" (ms) after the reservation. */
  tat: number;
  /** Milliseconds of budget granted to this reservation: 0 when it was refused. */
  grantedMs: number;
}

// Both statements are named, so each pooled connection parses and plans them once. They run
// with the pool's search_path (tests give each file a schema of its own), like
// rate-limiter-flexible's.
//
// The window statement always adds the points asked for, even past the quota, exactly as
// rate-limiter-flexible does: what a reservation got is then known from the new total alone
// (see grantedRequests), and a window past its quota refuses everything until it ends anyway.
// Rows keep rate-limiter-flexible's meaning (points in the window, expire in ms), so instances
// of an earlier version that still count one by one in the same rows stay within the limit.
const RESERVE_WINDOW = `
  insert into ${RATE_LIMIT_TABLE} as r (key, points, expire) values ($1, $2, $3::bigint + $4::bigint)
  on conflict (key) do update set
    points = case when r.expire <= $3::bigint then $2 else r.points + $2 end,
    expire = case when r.expire <= $3::bigint then $3::bigint + $4::bigint else r.expire end
  returning points, expire`;

// GCRA: `tat` is when the bucket would be full again. A reservation asks for `want` ms and
// accepts no fewer than `need`; it gets what the bucket holds up to `want`. The grant is kept
// in the row so that RETURNING (which sees only new values) can report it. A refusal leaves
// `tat` as it was and reports it, so the refusal needs no second statement.
const ROOM = '($5::bigint - (greatest(b.tat, $2::bigint) - $2::bigint))';
const RESERVE_BUDGET = `
  insert into ${COST_BUDGET_TABLE} as b (key, tat, granted) values ($1, $2::bigint + $4::bigint, $4::bigint)
  on conflict (key) do update set
    granted = case when ${ROOM} >= $3::bigint then least($4::bigint, ${ROOM}) else 0 end,
    tat = case when ${ROOM} >= $3::bigint then greatest(b.tat, $2::bigint) + least($4::bigint, ${ROOM}) else b.tat end
  returning tat, granted`;

/** What a window reservation of `asked` points got, given the total the statement returned. */
export function grantedRequests(window: CountedWindow, asked: number, quota: number): number {
  return Math.max(0, Math.min(asked, quota - (window.points - asked)));
}

/**
 * The tables are created at first use rather than by a migration: they hold nothing worth
 * keeping, and rate-limiter-flexible owns the layout of the first. An advisory lock per schema
 * makes concurrent start-ups (several instances, parallel test schemas) safe.
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
        tat bigint not null,
        granted bigint not null default 0
      )`.execute(trx);
      // Tables created before reservations lack `granted`. Asked first, because ALTER TABLE
      // locks the table even when there is nothing to add.
      const columns = await sql<{ found: number }>`
        select 1 as found from information_schema.columns
        where table_schema = current_schema() and table_name = ${COST_BUDGET_TABLE} and column_name = 'granted'`.execute(trx);
      if (columns.rows.length === 0) {
        await sql`alter table ${sql.table(COST_BUDGET_TABLE)} add column if not exists granted bigint not null default 0`.execute(trx);
      }
    });
  }

  #pool() {
    const pool = this.#database.pgPool;
    if (!pool) throw new Error('shared counters need PostgreSQL');
    return pool;
  }

  /**
   * Adds `points` to the counter `name` in its current fixed window of `windowMs`, or opens a
   * new window at `now` when the last one has ended. PostgreSQL only.
   */
  async reserveInWindow(name: string, points: number, windowMs: number, now: number): Promise<CountedWindow> {
    await this.ready();
    const result = await this.#pool().query<{ points: number; expire: number }>({
      name: 'keyscope-reserve-window',
      text: RESERVE_WINDOW,
      values: [name, points, now, windowMs],
    });
    const row = result.rows[0];
    if (!row) throw new Error('window reservation returned no row');
    return { points: Number(row.points), expire: Number(row.expire) };
  }

  /**
   * Takes between `needMs` and `wantMs` (at most `capacityMs`) of budget from the bucket
   * `key` (GCRA, `capacityMs` deep), as much as it holds up to `wantMs`; none at all if it
   * holds less than `needMs`. PostgreSQL only.
   */
  async reserveBudget(key: string, needMs: number, wantMs: number, capacityMs: number, now: number): Promise<ReservedBudget> {
    await this.ready();
    const result = await this.#pool().query<{ tat: number; granted: number }>({
      name: 'keyscope-reserve-budget',
      text: RESERVE_BUDGET,
      values: [key, now, needMs, wantMs, capacityMs],
    });
    const row = result.rows[0];
    if (!row) throw new Error('budget reservation returned no row');
    return { tat: Number(row.tat), grantedMs: Number(row.granted) };
  }

  /** A fixed-window limiter: in memory on SQLite, in the shared table on PostgreSQL. */
  limiter(options: LimiterOptions): RateLimiterAbstract {
    const memory = new RateLimiterMemory(options);
    const pool = this.#database.pgPool;
    if (!this.shared || !pool) return memory;
    // Only one limiter sweeps expired rows (the sweep covers the whole table, the request
    // windows of keys included).
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
