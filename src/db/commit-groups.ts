// Group commit for SQLite. SQLite has one writer and, here, one connection: write transactions
// already run one after another, and each pays for its own COMMIT (writing its pages to the
// WAL), which on the hot paths (createJob, the job worker) cost more than the statements did.
// Units of work that arrive while a group is open run inside it, one after another, each
// within its own SAVEPOINT: a unit that throws is rolled back alone and rejected at once; the
// others are answered only after the group's one COMMIT, so nobody is told "done" before their
// change is committed, and a COMMIT that fails rejects every unit of its group (nothing of any of
// them was written). To each unit, this is its own transaction.
//
// A group opens one turn of the event loop after its first unit arrived (PostgreSQL's
// commit_delay, at the scale of one turn): requests whose bodies have been read by then reach
// their writes and join it. No transaction is open while it waits, so nobody else waits for
// it. Measured under the benchmark's createJob load: write system calls per request 12.8 → 5.4.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Database as BetterSqlite } from 'better-sqlite3';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './database.ts';

/** Units per COMMIT, at most: bounds how long the first unit of a busy group waits for its answer. */
export const MAX_UNITS_PER_GROUP = 32;
const SAVEPOINT = 'keyscope_unit';

export type UnitOfWork<T> = (trx: Transaction<Database>) => Promise<T>;

interface Pending {
  work: UnitOfWork<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Thrown into units whose group could not be committed because another unit broke the transaction. */
export class GroupAbortedError extends Error {
  override readonly name = 'GroupAbortedError';
}

export class SqliteCommitGroups {
  readonly #db: Kysely<Database>;
  readonly #sqlite: BetterSqlite;
  readonly #queue: Pending[] = [];
  #draining = false;

  constructor(db: Kysely<Database>, sqlite: BetterSqlite) {
    this.#db = db;
    this.#sqlite = sqlite;
  }

  run<T>(work: UnitOfWork<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work: work as UnitOfWork<unknown>, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#draining) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length > 0) {
        if (this.#queue.length < MAX_UNITS_PER_GROUP) await nextTurn();
        await this.#runGroup();
      }
    } finally {
      this.#draining = false;
    }
  }

  async #runGroup(): Promise<void> {
    const succeeded: { unit: Pending; value: unknown }[] = [];
    let current: Pending | undefined;
    let begun = false;
    try {
      // Kysely's transaction holds the connection (its mutex), so other Kysely queries and
      // transactions wait for the group as they would for any transaction. The savepoints are
      // issued on the same connection directly: they need no result and no Kysely round.
      await this.#db.transaction().execute(async (trx) => {
        begun = true;
        for (let n = 0; n < MAX_UNITS_PER_GROUP; n++) {
          current = this.#queue.shift();
          if (!current) return;
          this.#sqlite.exec(`savepoint ${SAVEPOINT}`);
          let value: unknown;
          try {
            value = await current.work(trx);
          } catch (error) {
            const failed = current;
            current = undefined;
            failed.reject(error);
            this.#undoUnit(error);
            continue;
          }
          this.#sqlite.exec(`release ${SAVEPOINT}`);
          succeeded.push({ unit: current, value });
          current = undefined;
        }
      });
    } catch (error) {
      // BEGIN or COMMIT failed, or a failing unit took the whole transaction with it.
      if (!begun) {
        // No transaction could be started (the database was closed, say): every unit waiting
        // would meet the same, so all of them are refused rather than retried in a loop.
        for (const unit of this.#queue.splice(0)) unit.reject(error);
        return;
      }
      current?.reject(error);
      const aborted = error instanceof GroupAbortedError ? error : new GroupAbortedError('the transaction could not be committed', { cause: error });
      for (const { unit } of succeeded) unit.reject(aborted);
      return;
    }
    for (const { unit, value } of succeeded) unit.resolve(value);
  }

  /**
   * Rolls the failed unit back to its savepoint. Some failures (disk full, I/O errors) make
   * SQLite roll back the whole transaction itself; then the units before it are lost too, and
   * the group must fail as a whole.
   */
  #undoUnit(cause: unknown): void {
    if (!this.#sqlite.inTransaction) throw new GroupAbortedError('the transaction was rolled back', { cause });
    this.#sqlite.exec(`rollback to ${SAVEPOINT}`);
    this.#sqlite.exec(`release ${SAVEPOINT}`);
  }
}
