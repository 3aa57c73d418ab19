// Frozen in time: this file never imports application code.
// Registered (persisted) operations: the SHA-256 of a document's text and the text itself,
// so a client may send only the hash and a key may be limited to these documents.
import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against no particular schema
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('persisted_operations')
    .addColumn('hash', 'text', (c) => c.primaryKey())
    .addColumn('document', 'text', (c) => c.notNull())
    .addColumn('operation_name', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('persisted_operations').execute();
}
