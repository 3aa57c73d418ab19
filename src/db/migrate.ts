import { Migrator, type MigrationResultSet, PostgresAdapter, sql } from 'kysely';
import { migrations } from '../../migrations/index.ts';
import type { Db } from './database.ts';

/**
 * The PostgreSQL schema that unqualified names resolve to (the search_path's first existing
 * schema, e.g. from `?options=-c search_path=…` in DATABASE_URL); undefined on SQLite.
 */
async function currentPgSchema(db: Db): Promise<string | undefined> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return undefined;
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  return rows[0]?.schema ?? undefined;
}

/**
 * What PostgreSQL answers when a schema (3F000) or a table (42P01) that a catalog query was
 * reading is dropped under it. Kysely's migrator lists the tables of every schema in the
 * database to find its own bookkeeping tables, so another schema being dropped at that moment
 * (another deployment's, a test file's) fails the run.
 */
const CATALOG_RACE_CODES = new Set(['3F000', '42P01']);
const MIGRATION_ATTEMPTS = 5;

/**
 * Brings the schema up to date. Kysely takes a lock around the run (an advisory lock on
 * PostgreSQL), so several instances may call this at once. On PostgreSQL the run is one
 * transaction, so a run that met a schema dropped elsewhere is retried whole (up to five
 * attempts); any other failure is thrown at once.
 */
export async function migrateToLatest(db: Db, options: { pgSchema?: string } = {}): Promise<MigrationResultSet> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateOnce(db, options);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (attempt >= MIGRATION_ATTEMPTS || typeof code !== 'string' || !CATALOG_RACE_CODES.has(code)) throw error;
    }
  }
}

async function migrateOnce(db: Db, options: { pgSchema?: string }): Promise<MigrationResultSet> {
  // The bookkeeping tables are always named with their schema: without one, Kysely's
  // "does kysely_migration exist?" check matches that table in ANY schema of the database
  // (another Keyscope's, say) and then fails to find its own.
  const schema = options.pgSchema ?? (await currentPgSchema(db));
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const result = await migrator.migrateToLatest();
  if (result.error) throw result.error;
  return result;
}
