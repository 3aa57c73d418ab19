// A DATABASE_URL another process (the CLI, a second server) can use to reach a test's own
// database: its SQLite file, or its PostgreSQL schema through `options=-c search_path=…`.
import { sql } from 'kysely';
import type { Config } from '../src/config.ts';
import type { DatabaseHandle } from '../src/db/connect.ts';

export function postgresUrlForSchema(baseUrl: string, schema: string): string {
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

export async function databaseUrlOf(t: { config: Config; database: DatabaseHandle }): Promise<string> {
  const base = process.env.TEST_DATABASE_URL;
  if (t.database.dialect === 'sqlite' || !base) return t.config.databaseUrl;
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(t.database.db);
  const schema = rows[0]?.schema;
  if (!schema) throw new Error('no current schema');
  return postgresUrlForSchema(base, schema);
}
