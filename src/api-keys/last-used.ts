// `lastUsedAt` without a write per request: uses are noted in memory and written in batches
// every interval (and on shutdown), at most one row per key per flush, up to
// ROWS_PER_STATEMENT keys in one UPDATE (db/batches.ts).
import { sql } from 'kysely';
import { writeInStatements } from '../db/batches.ts';
import type { Db } from '../db/database.ts';

interface Use {
  at: number;
  ip: string;
}

export class LastUsedTracker {
  readonly #db: Db;
  #pending = new Map<string, Use>();

  constructor(db: Db) {
    this.#db = db;
  }

  note(keyId: string, at: number, ip: string): void {
    this.#pending.set(keyId, { at, ip });
  }

  async flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = [...this.#pending];
    this.#pending = new Map();
    // The database was away: the unwritten uses wait for the next flush, unless a newer use came meanwhile.
    await writeInStatements(
      batch,
      (uses) => this.#write(uses),
      (unwritten) => {
        for (const [keyId, use] of unwritten) {
          if ((this.#pending.get(keyId)?.at ?? -1) < use.at) this.#pending.set(keyId, use);
        }
      },
    );
  }

  /** One UPDATE from a VALUES list (its columns are column1… on both databases); a use never moves lastUsedAt back. */
  async #write(uses: [string, Use][]): Promise<void> {
    const rows = uses.map(([keyId, use]) => sql`(${keyId}, cast(${use.at} as bigint), ${use.ip})`);
    await sql`
      update api_keys set last_used_at = used.column2, last_used_ip = used.column3
      from (values ${sql.join(rows)}) as used
      where api_keys.id = used.column1
        and (api_keys.last_used_at is null or api_keys.last_used_at < used.column2)
    `.execute(this.#db);
  }
}
