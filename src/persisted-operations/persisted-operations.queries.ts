import type { DbOrTrx } from '../db/database.ts';

export interface PersistedOperationRow {
  hash: string;
  document: string;
  operation_name: string | null;
  created_at: number;
}

export async function findPersistedDocument(db: DbOrTrx, hash: string): Promise<string | undefined> {
  const row = await db.selectFrom('persisted_operations').select('document').where('hash', '=', hash).executeTakeFirst();
  return row?.document;
}

/** Inserts the rows whose hash is new; returns the hashes actually inserted. */
export async function insertPersistedOperations(db: DbOrTrx, rows: PersistedOperationRow[]): Promise<string[]> {
  if (rows.length === 0) return [];
  const inserted = await db
    .insertInto('persisted_operations')
    .values(rows)
    .onConflict((oc) => oc.column('hash').doNothing())
    .returning('hash')
    .execute();
  return inserted.map((r) => r.hash);
}
