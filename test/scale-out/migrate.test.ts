// `npm run keyscope -- migrate` from several instances at once, as a rolling deploy does:
// Kysely's migrator takes a PostgreSQL advisory lock, so one process applies the migrations
// and the others wait and find nothing to do. PostgreSQL only: several instances need it.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.ts';
import { connectDatabase } from '../../src/db/connect.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { postgresUrlForSchema } from '../database-url.ts';
import { TEST_SECRET } from '../harness.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PG_URL = process.env.TEST_DATABASE_URL;
const MIGRATION_NAMES = Object.keys(migrations);

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The operator command, as a separate process with the server's environment. */
async function migrateCommand(databaseUrl: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'migrate'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, NODE_ENV: 'production', KEYSCOPE_SECRET: TEST_SECRET, DATABASE_URL: databaseUrl },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe.skipIf(!PG_URL)('npm run keyscope -- migrate, from several instances at once (PostgreSQL)', () => {
  const schemas: string[] = [];
  const newSchema = async () => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    await admin((c) => c.query(`create schema ${schema}`));
    schemas.push(schema);
    return schema;
  };

  afterAll(async () => {
    if (!PG_URL) return;
    await admin(async (c) => {
      for (const schema of schemas) await c.query(`drop schema if exists ${schema} cascade`);
    });
  });

  it('applies every migration exactly once when three processes run it together', { timeout: 90_000 }, async () => {
    if (!PG_URL) return;
    // Another Keyscope database in the same PostgreSQL database (a staging schema, say) must
    // not confuse the migrator about which bookkeeping tables exist.
    const neighbour = await newSchema();
    const first = await migrateCommand(postgresUrlForSchema(PG_URL, neighbour));
    expect(first.stderr).toBe('');
    expect(first.stdout.trim()).toBe(`applied: ${MIGRATION_NAMES.join(', ')}`);

    const schema = await newSchema();
    const url = postgresUrlForSchema(PG_URL, schema);
    const runs = await Promise.all([migrateCommand(url), migrateCommand(url), migrateCommand(url)]);
    for (const r of runs) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    const outputs = runs.map((r) => r.stdout.trim()).sort();
    expect(outputs).toEqual(['already up to date', 'already up to date', `applied: ${MIGRATION_NAMES.join(', ')}`]);

    const applied = await admin((c) => c.query(`select name from ${schema}.kysely_migration order by name`));
    expect(applied.rows.map((r: { name: string }) => r.name)).toEqual(MIGRATION_NAMES);
    const tables = await admin((c) =>
      c.query('select table_name from information_schema.tables where table_schema = $1 and table_name = $2', [schema, 'api_keys']),
    );
    expect(tables.rowCount).toBe(1);

    // And once more, later: nothing to do.
    expect((await migrateCommand(url)).stdout.trim()).toBe('already up to date');
  });

  it('serialises three connections that start migrating at the same instant', async () => {
    if (!PG_URL) return;
    const schema = await newSchema();
    const handles = [0, 1, 2].map(() => connectDatabase(postgresUrlForSchema(PG_URL, schema), { pgPoolSize: 2 }));
    try {
      const results = await Promise.all(handles.map((h) => migrateToLatest(h.db)));
      const applied = results.map((r) => (r.results ?? []).filter((m) => m.status === 'Success').length).sort();
      expect(applied).toEqual([0, 0, MIGRATION_NAMES.length]);
    } finally {
      await Promise.all(handles.map((h) => h.close()));
    }
  });
});
