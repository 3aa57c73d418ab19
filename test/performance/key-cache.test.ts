// The key-verification cache on PostgreSQL, with two instances on one database: a change
// made through one instance (or straight in the database) is announced by the trigger, and
// the other instance's very next request after the announcement sees it. While the LISTEN
// connection is down, the cache is off; it comes back on by itself.
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KeyscopeApp, createApp } from '../../src/app.ts';
import { type DatabaseHandle, connectDatabase } from '../../src/db/connect.ts';
import { PgChannelListener } from '../../src/db/notifications.ts';
import { type TestApp, createKey, createTestApp, dialect, signUp } from '../harness.ts';

const url = process.env.TEST_DATABASE_URL ?? '';

/** Polls `done` every few milliseconds for at most `ms`; fails the test if it never holds. */
async function waitFor(done: () => boolean, ms = 3_000): Promise<number> {
  const started = performance.now();
  while (!done()) {
    if (performance.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return performance.now() - started;
}

describe.runIf(dialect === 'postgres')('key-verification cache across two instances', () => {
  let a: TestApp;
  let bDatabase: DatabaseHandle;
  let b: KeyscopeApp;

  beforeAll(async () => {
    a = await createTestApp();
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(a.database.db);
    bDatabase = connectDatabase(url, { pgSchema: rows[0]?.schema ?? '' });
    b = createApp({ config: a.config, database: bDatabase, clock: a.clock, mailer: a.mailer });
    await waitFor(() => a.app.deps.keys.caching && b.deps.keys.caching);
  });
  afterAll(async () => {
    await b.flush();
    await bDatabase.close();
    await a.close();
  });

  const VIEWER = '{ viewer { apiKey { id name } } }';
  async function onB(key: string, query = VIEWER): Promise<{ status: number; body: { data?: { viewer?: { apiKey?: { name: string } } }; errors?: { extensions: { code: string } }[] } }> {
    const response = await b.yoga.fetch(
      'http://localhost/graphql',
      { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query }) },
      { remoteAddress: '127.0.0.1' },
    );
    return { status: response.status, body: await response.json() };
  }

  it('refuses a key revoked through the other instance on the next request after the announcement', async () => {
    const owner = await signUp(a);
    const key = await createKey(a, owner, { scope: 'READ' });
    expect((await onB(key.secret)).status).toBe(200);
    expect((await onB(key.secret)).status).toBe(200);
    const seen = b.deps.keys.generation;
    await a.gql('mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }', { variables: { id: key.id }, session: owner.jar });
    expect((await a.gql(VIEWER, { key: key.secret })).status).toBe(401);
    await waitFor(() => b.deps.keys.generation > seen);
    const refused = await onB(key.secret);
    expect(refused.status).toBe(401);
    expect(refused.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
  });

  it('applies new restrictions and a rename, and a roll without grace, on the other instance', async () => {
    const owner = await signUp(a);
    const key = await createKey(a, owner, { scope: 'READ', name: 'first' });
    expect((await onB(key.secret)).body.data?.viewer?.apiKey?.name).toBe('first');

    let seen = b.deps.keys.generation;
    await a.gql('mutation($input: UpdateApiKeyInput!) { updateApiKey(input: $input) { apiKey { id } } }', {
      variables: { input: { id: key.id, name: 'second' } },
      session: owner.jar,
    });
    await waitFor(() => b.deps.keys.generation > seen);
    expect((await onB(key.secret)).body.data?.viewer?.apiKey?.name).toBe('second');

    seen = b.deps.keys.generation;
    await a.gql('mutation($input: UpdateApiKeyInput!) { updateApiKey(input: $input) { apiKey { id } } }', {
      variables: { input: { id: key.id, restrictions: { allowedIps: ['10.9.8.7'] } } },
      session: owner.jar,
    });
    await waitFor(() => b.deps.keys.generation > seen);
    expect((await onB(key.secret)).status).toBe(403);

    const other = await createKey(a, owner, { scope: 'READ' });
    expect((await onB(other.secret)).status).toBe(200);
    seen = b.deps.keys.generation;
    const rolled = await a.gql('mutation($id: ID!) { rollApiKey(input: { id: $id, gracePeriodSeconds: 0 }) { secret } }', {
      variables: { id: other.id },
      session: owner.jar,
    });
    await waitFor(() => b.deps.keys.generation > seen);
    expect((await onB(other.secret)).status).toBe(401);
    expect((await onB(rolled.body.data.rollApiKey.secret)).status).toBe(200);
  });

  it('hears about changes made straight in the database, but not about usage flushes', async () => {
    const owner = await signUp(a);
    const key = await createKey(a, owner, { scope: 'READ' });
    const marker = await createKey(a, owner, { scope: 'READ' });
    expect((await onB(key.secret)).status).toBe(200);
    // Let the set-up's own announcements arrive first.
    await new Promise((resolve) => setTimeout(resolve, 100));
    let seen = b.deps.keys.generation;
    // The lastUsedAt flush rewrites every used key: it must not empty the caches each time.
    await b.flush();
    await a.app.flush();
    await a.database.db.updateTable('api_keys').set({ name: 'marker' }).where('id', '=', marker.id).execute();
    await waitFor(() => b.deps.keys.generation > seen);
    // Announcements arrive in commit order: had the flushes announced anything, it would be here by now.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(b.deps.keys.generation).toBe(seen + 1);

    seen = b.deps.keys.generation;
    await a.database.db.updateTable('api_keys').set({ revoked_at: Date.now() - 1000 }).where('id', '=', key.id).execute();
    await waitFor(() => b.deps.keys.generation > seen);
    expect((await onB(key.secret)).status).toBe(401);
  });
});

describe.runIf(dialect === 'postgres')('the LISTEN connection', () => {
  it('reports losing its connection, comes back by itself, and delivers again', async () => {
    const name = `keyscope-test-${randomBytes(4).toString('hex')}`;
    const channel = `test_${randomBytes(4).toString('hex')}`;
    const events: string[] = [];
    const listener = new PgChannelListener({ connectionString: url, application_name: name }, channel, {
      onListening: () => events.push('listening'),
      onMessage: (payload) => events.push(`message:${payload}`),
      onLost: () => events.push('lost'),
    });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      listener.start();
      await waitFor(() => events.includes('listening'));
      await admin.query('select pg_notify($1, $2)', [channel, 'one']);
      await waitFor(() => events.includes('message:one'));

      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [name]);
      await waitFor(() => events.includes('lost'));
      await waitFor(() => events.filter((e) => e === 'listening').length === 2);
      await admin.query('select pg_notify($1, $2)', [channel, 'two']);
      await waitFor(() => events.includes('message:two'));
      expect(events).toEqual(['listening', 'message:one', 'lost', 'listening', 'message:two']);
    } finally {
      await listener.close();
      await admin.end();
    }
  });

  it('keeps the verification cache off while it is down', async () => {
    const t = await createTestApp();
    try {
      const keys = t.app.deps.keys;
      await waitFor(() => keys.caching);
      // What followApiKeyChanges does when the connection is lost.
      keys.setCaching(false);
      const owner = await signUp(t);
      const key = await createKey(t, owner, { scope: 'READ' });
      expect((await t.gql('{ viewer { apiKey { id } } }', { key: key.secret })).status).toBe(200);
      // A change that is not announced (triggers off for this transaction: the test role is a
      // superuser) holds at once, since every request reads its key while the cache is off.
      await t.database.db.transaction().execute(async (trx) => {
        await sql`set local session_replication_role = replica`.execute(trx);
        await trx.updateTable('api_keys').set({ revoked_at: Date.now() - 1000 }).where('id', '=', key.id).execute();
      });
      expect((await t.gql('{ viewer { apiKey { id } } }', { key: key.secret })).status).toBe(401);
    } finally {
      await t.close();
    }
  });
});
