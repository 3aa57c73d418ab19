// preparedQuery: a query compiled once per dialect, each call bound to its own parameters.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { preparedQuery } from '../../src/db/prepared-query.ts';
import { databaseForThisFile } from '../harness.ts';

const database = databaseForThisFile();

const insertOperation = preparedQuery<{ hash: string; document: string; at: number }, never>(['hash', 'document', 'at'], (db, p) =>
  db.insertInto('persisted_operations').values({ hash: p.hash, document: p.document, operation_name: null, created_at: p.at }),
);
const findOperation = preparedQuery<{ hash: string }, { document: string; created_at: number }>(['hash'], (db, p) =>
  db.selectFrom('persisted_operations').select(['document', 'created_at']).where('hash', '=', p.hash).where('operation_name', 'is', null),
);

describe('prepared queries', () => {
  it('bind each call to its own parameters, inside and outside transactions', async () => {
    await insertOperation(database().db, { hash: 'h1', document: '{ a }', at: 1 });
    await database().transaction((trx) => insertOperation(trx, { hash: 'h2', document: '{ b }', at: 2 }));
    const found = await Promise.all(['h2', 'h1', 'h3'].map(async (hash) => (await findOperation(database().db, { hash })).rows));
    expect(found).toEqual([[{ document: '{ b }', created_at: 2 }], [{ document: '{ a }', created_at: 1 }], []]);
  });

  it('refuse a query in which a parameter does not become a bound value', async () => {
    const inlined = preparedQuery<{ hash: string }, { hash: string }>(['hash'], (db) =>
      db.selectFrom('persisted_operations').select('hash').where('hash', '=', sql.lit('constant')),
    );
    await expect(inlined(database().db, { hash: 'h1' })).rejects.toThrow('hash did not become bound parameters');
  });

  it('refuse values with a key the parameter names leave out, rather than drop it', async () => {
    const partial = preparedQuery<{ hash: string; document: string }, never>(['hash'], (db, p) =>
      db.insertInto('persisted_operations').values({ hash: p.hash, document: '{ c }', operation_name: null, created_at: 3 }),
    );
    await expect(partial(database().db, { hash: 'h4', document: '{ d }' })).rejects.toThrow('document not among its parameter names');
    expect((await findOperation(database().db, { hash: 'h4' })).rows).toEqual([]);
  });
});
