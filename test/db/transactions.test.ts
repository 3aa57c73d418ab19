// DatabaseHandle.transaction: each unit of work is all or nothing, also when (on SQLite) several
// units share one COMMIT. Against a real database; the HTTP paths built on it (createJob, the
// job worker) are covered in test/credits and test/jobs.
import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupAbortedError, MAX_UNITS_PER_GROUP } from '../../src/db/commit-groups.ts';
import type { DatabaseHandle } from '../../src/db/connect.ts';
import { dialect, freshDatabase, testConfig } from '../harness.ts';

let database: DatabaseHandle;
let drop: () => Promise<void>;
let file: string;

beforeAll(async () => {
  const config = testConfig();
  ({ database, drop } = await freshDatabase(config));
  file = config.databaseUrl.slice('file:'.length);
});
afterAll(async () => {
  await database.close();
  await drop();
});

let sequence = 0;
const newHash = (label: string) => `${label}-${++sequence}-${Math.random().toString(36).slice(2)}`;

function insertOperation(trx: Parameters<Parameters<DatabaseHandle['transaction']>[0]>[0], hash: string) {
  return trx.insertInto('persisted_operations').values({ hash, document: '{ __typename }', operation_name: null, created_at: Date.now() }).execute();
}

async function storedHashes(hashes: string[]): Promise<string[]> {
  const rows = await database.db.selectFrom('persisted_operations').select('hash').where('hash', 'in', hashes).execute();
  return rows.map((r) => r.hash).sort();
}

describe('units of work', () => {
  it('commit every unit that succeeds and leave no trace of one that throws, whatever ran beside it', async () => {
    const units = Array.from({ length: 3 * MAX_UNITS_PER_GROUP }, (_, i) => ({ hash: newHash('unit'), fails: i % 3 === 1 }));
    const outcomes = await Promise.allSettled(
      units.map(({ hash, fails }) =>
        database.transaction(async (trx) => {
          await insertOperation(trx, hash);
          // A second write, so that a half-undone unit would show.
          await insertOperation(trx, `${hash}-second`);
          if (fails) throw new Error('refused after writing');
          return hash;
        }),
      ),
    );
    outcomes.forEach((outcome, i) => {
      if (units[i]?.fails) expect(outcome).toMatchObject({ status: 'rejected', reason: { message: 'refused after writing' } });
      else expect(outcome).toEqual({ status: 'fulfilled', value: units[i]?.hash });
    });
    const kept = units.filter((u) => !u.fails).flatMap((u) => [u.hash, `${u.hash}-second`]);
    const all = units.flatMap((u) => [u.hash, `${u.hash}-second`]);
    expect(await storedHashes(all)).toEqual(kept.sort());
  });
});

describe('a closed database', () => {
  it('refuses the units of work given to it instead of leaving them waiting', async () => {
    const config = testConfig();
    const closed = await freshDatabase(config);
    await closed.database.close();
    try {
      const refusals = await Promise.allSettled([1, 2, 3].map(() => closed.database.transaction((trx) => insertOperation(trx, newHash('late')))));
      expect(refusals.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    } finally {
      await closed.drop();
    }
  });
});

/** A foreign key checked only at COMMIT, and broken: the whole group's COMMIT fails. */
async function breakCommit(trx: Parameters<Parameters<DatabaseHandle['transaction']>[0]>[0]): Promise<void> {
  await sql`pragma defer_foreign_keys = on`.execute(trx);
  await sql`insert into credit_ledger (id, account_id, amount, balance_after, kind, reason, actor, created_at)
            values ('led_orphan', 'acct_missing', 1, 1, 'grant', 'test', 'test', 0)`.execute(trx);
}

describe.runIf(dialect === 'sqlite')('group commit on SQLite', () => {
  it('answers a unit only once its change is committed: another connection already sees it', async () => {
    const other = new SqliteDatabase(file, { readonly: true });
    try {
      const find = other.prepare('select hash from persisted_operations where hash = ?');
      const hashes = Array.from({ length: 2 * MAX_UNITS_PER_GROUP }, () => newHash('durable'));
      const seenByOther = await Promise.all(
        hashes.map((hash) => database.transaction((trx) => insertOperation(trx, hash)).then(() => find.get(hash) !== undefined)),
      );
      expect(seenByOther).toEqual(hashes.map(() => true));
    } finally {
      other.close();
    }
  });

  it('gathers into one COMMIT the units that arrive within the same turn of the event loop', async () => {
    const early = newHash('early');
    // Queued by an event handled later in this turn (as a request whose body was read after
    // the first one's), and breaking its COMMIT: only a shared group fails the early unit too.
    const late = new Promise<unknown>((resolve) => {
      setImmediate(() => resolve(database.transaction((trx) => breakCommit(trx)).catch((error: unknown) => error)));
    });
    const first = database.transaction((trx) => insertOperation(trx, early)).catch((error: unknown) => error);
    expect(await first).toBeInstanceOf(GroupAbortedError);
    expect(await late).toBeInstanceOf(Error);
    expect(await storedHashes([early])).toEqual([]);
  });

  it('rejects every unit of a group whose COMMIT fails, and keeps none of their writes', async () => {
    const before = newHash('before');
    await database.transaction((trx) => insertOperation(trx, before));
    const neighbours = Array.from({ length: 5 }, () => newHash('neighbour'));
    // Queued together, so they share one group.
    const results = await Promise.allSettled([
      ...neighbours.map((hash) => database.transaction((trx) => insertOperation(trx, hash))),
      database.transaction((trx) => breakCommit(trx)),
    ]);
    expect(results.map((r) => r.status)).toEqual(results.map(() => 'rejected'));
    expect(await storedHashes([before, ...neighbours])).toEqual([before]);
    const orphan = await database.db.selectFrom('credit_ledger').select('id').where('id', '=', 'led_orphan').executeTakeFirst();
    expect(orphan).toBeUndefined();
    // And the next unit gets a working transaction of its own.
    const after = newHash('after');
    await database.transaction((trx) => insertOperation(trx, after));
    expect(await storedHashes([after])).toEqual([after]);
  });
});
