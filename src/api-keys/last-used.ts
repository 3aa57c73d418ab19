// `lastUsedAt` without a write per request: uses are noted in memory and written in one
// batch every interval (and on shutdown), at most one write per key per flush.
import type { Db } from '../db/database.ts';

export class LastUsedTracker {
  readonly #db: Db;
  #pending = new Map<string, { at: number; ip: string }>();

  constructor(db: Db) {
    this.#db = db;
  }

  note(keyId: string, at: number, ip: string): void {
    this.#pending.set(keyId, { at, ip });
  }

  async flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    for (const [keyId, use] of batch) {
      await this.#db
        .updateTable('api_keys')
        .set({ last_used_at: use.at, last_used_ip: use.ip })
        .where('id', '=', keyId)
        .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', use.at)]))
        .execute();
    }
  }
}
