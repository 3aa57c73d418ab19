import { Migrator, type MigrationResultSet } from 'kysely';
import { migrations } from '../../migrations/index.ts';
import type { Db } from './database.ts';

/**
 * Brings the schema up to date. Kysely takes a lock around the run (an advisory lock on
 * PostgreSQL), so several instances may call this at once.
 */
export async function migrateToLatest(db: Db, options: { pgSchema?: string } = {}): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    // With a schema of its own (tests), the bookkeeping tables must live there too.
    ...(options.pgSchema ? { migrationTableSchema: options.pgSchema } : {}),
  });
  const result = await migrator.migrateToLatest();
  if (result.error) throw result.error;
  return result;
}
