// Migrations on a database where other schemas come and go: Kysely's migrator reads the
// tables of every schema, and a schema dropped during that read fails the read (PostgreSQL
// 3F000 or 42P01). Such a run is retried; any other failure is not.
import { describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { databaseForThisFile } from '../harness.ts';

const database = databaseForThisFile();

/** The database, except that its first `failures` statements fail with this PostgreSQL code. */
function failing(code: string, failures: number) {
  let left = failures;
  const db = database().db.withPlugin({
    transformQuery({ node }) {
      if (left > 0) {
        left -= 1;
        throw Object.assign(new Error(`refused (${code})`), { code });
      }
      return node;
    },
    transformResult: async ({ result }) => result,
  });
  return { db, left: () => left };
}

describe('migrateToLatest', () => {
  it('retries a run that met a schema or table dropped under its catalog read', async () => {
    const vanishedSchema = failing('3F000', 2);
    await expect(migrateToLatest(vanishedSchema.db)).resolves.toBeDefined();
    expect(vanishedSchema.left()).toBe(0);
    const vanishedTable = failing('42P01', 1);
    await expect(migrateToLatest(vanishedTable.db)).resolves.toBeDefined();
  });

  it('throws any other failure at once, and gives up on the race after five attempts', async () => {
    const syntax = failing('42601', 1);
    await expect(migrateToLatest(syntax.db)).rejects.toThrow(/42601/);
    const endless = failing('3F000', 100);
    await expect(migrateToLatest(endless.db)).rejects.toThrow(/3F000/);
    expect(endless.left()).toBe(95);
  });
});
