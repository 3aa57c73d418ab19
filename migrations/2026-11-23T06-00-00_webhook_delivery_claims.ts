// Frozen in time: this file never imports application code.
// A delivery's lease now names its holder (`claimed_by`), so a worker that claims a batch
// finds exactly its own rows and a worker whose lease expired cannot record over another's;
// `failure_reason` says why a delivery stopped for good.
import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against no particular schema
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  // One column per statement: SQLite's ALTER TABLE adds one at a time.
  await db.schema.alterTable('webhook_deliveries').addColumn('claimed_by', 'text').execute();
  await db.schema.alterTable('webhook_deliveries').addColumn('failure_reason', 'text').execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable('webhook_deliveries').dropColumn('failure_reason').execute();
  await db.schema.alterTable('webhook_deliveries').dropColumn('claimed_by').execute();
}
