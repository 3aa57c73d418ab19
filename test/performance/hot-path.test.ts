// The shortcuts the benchmark (issue 7) put on the hot path, and the checks they must not
// weaken: `viewer { apiKey }` answered from the verified key still shows every change on the
// next request; bodies over 1 MiB still get 413 through a real socket, with or without a
// Content-Length; kept SQLite statements still answer each call with its own parameters.
import { request as httpRequest } from 'node:http';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyscopeError } from '../../src/errors.ts';
import { type TestApp, createKey, createTestApp, dialect, signUp } from '../harness.ts';
import { type Listening, listen } from '../listen.ts';

let t: TestApp;
let server: Listening;
beforeAll(async () => {
  t = await createTestApp();
  server = await listen(t.app);
});
afterAll(async () => {
  await server.close();
  await t.close();
});

const VIEWER_KEY = '{ viewer { apiKey { id name prefix scope environment expiresAt revokedAt restrictions { allowedIps allowedOperations } rateLimit { requests windowSeconds } } } }';
const UPDATE = 'mutation($input: UpdateApiKeyInput!) { updateApiKey(input: $input) { apiKey { id } } }';

describe('viewer { apiKey } from the verified key', () => {
  it('shows a rename, new restrictions and a new rate limit on the very next request', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { scope: 'READ', name: 'before' });
    const first = await t.gql(VIEWER_KEY, { key: key.secret });
    expect(first.body.data.viewer.apiKey).toMatchObject({ id: key.id, name: 'before', scope: 'READ', restrictions: { allowedIps: [] }, rateLimit: null });

    const changed = await t.gql(UPDATE, {
      variables: { input: { id: key.id, name: 'after', restrictions: { allowedIps: ['127.0.0.1'], allowedOperations: ['viewer'] }, rateLimit: { requests: 500, windowSeconds: 10 } } },
      session: owner.jar,
    });
    expect(changed.body.errors).toBeUndefined();
    const next = await t.gql(VIEWER_KEY, { key: key.secret });
    expect(next.body.data.viewer.apiKey).toMatchObject({
      name: 'after',
      restrictions: { allowedIps: ['127.0.0.1'], allowedOperations: ['viewer'] },
      rateLimit: { requests: 500, windowSeconds: 10 },
    });
  });

  it('shows the new prefix to the old secret during a roll, and refuses a revoked key at once', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { scope: 'READ' });
    await t.gql(VIEWER_KEY, { key: key.secret });
    const rolled = await t.gql('mutation($id: ID!) { rollApiKey(input: { id: $id, gracePeriodSeconds: 60 }) { secret } }', { variables: { id: key.id }, session: owner.jar });
    const fresh: string = rolled.body.data.rollApiKey.secret;
    const old = await t.gql(VIEWER_KEY, { key: key.secret });
    expect(old.body.data.viewer.apiKey.prefix).toBe(fresh.slice(0, 12));

    await t.gql('mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }', { variables: { id: key.id }, session: owner.jar });
    for (const secret of [key.secret, fresh]) {
      const refused = await t.gql(VIEWER_KEY, { key: secret });
      expect(refused.status).toBe(401);
      expect(refused.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it('still reads lastUsedAt and lastUsedIp from the database, where the batched flush writes them', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { scope: 'READ' });
    const USAGE = '{ viewer { apiKey { id lastUsedAt lastUsedIp } } }';
    const before = await t.gql(USAGE, { key: key.secret });
    expect(before.body.data.viewer.apiKey).toEqual({ id: key.id, lastUsedAt: null, lastUsedIp: null });
    await t.app.flush();
    // Through a fragment too: the shortcut looks inside it and sees a field it cannot answer.
    const after = await t.gql('query { viewer { apiKey { ...Usage } } } fragment Usage on ApiKey { lastUsedAt lastUsedIp }', { key: key.secret });
    expect(after.body.data.viewer.apiKey.lastUsedAt).not.toBeNull();
    expect(after.body.data.viewer.apiKey.lastUsedIp).toBe('127.0.0.1');
  });
});

/** A raw HTTP/1.1 POST through the real socket; `chunks` without a Content-Length go chunked. */
function post(body: string, options: { contentLength: boolean }): Promise<{ status: number; json: { errors?: { extensions: Record<string, unknown> }[] } }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.contentLength) headers['content-length'] = String(Buffer.byteLength(body));
    const req = httpRequest(`${server.graphqlUrl}`, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : {} }));
    });
    // The server may answer 413 and close before the whole body is written.
    req.on('error', reject);
    const step = 256 * 1024;
    for (let at = 0; at < body.length; at += step) req.write(body.slice(at, at + step));
    req.end();
  });
}

describe('request bodies through a real socket', () => {
  const body = (padding: number) => JSON.stringify({ query: '{ health { status } }', variables: { padding: 'x'.repeat(padding) } });

  it('refuses over 1 MiB with 413 from the Content-Length alone', async () => {
    const res = await post(body(1024 * 1024), { contentLength: true });
    expect(res.status).toBe(413);
    expect(res.json.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'body_too_large' });
  });

  it('refuses over 1 MiB with 413 when chunked, counting the bytes', async () => {
    const res = await post(body(1024 * 1024), { contentLength: false });
    expect(res.status).toBe(413);
    expect(res.json.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'body_too_large' });
  });

  it('reads bodies just under the limit either way', async () => {
    for (const contentLength of [true, false]) {
      const res = await post(body(1000 * 1000), { contentLength });
      expect(res.status, `contentLength: ${contentLength}`).toBe(200);
    }
  });
});

describe.runIf(dialect === 'sqlite')('kept SQLite statements', () => {
  it('answer each call with its own parameters', async () => {
    const a = await signUp(t);
    const b = await signUp(t);
    const db = t.database.db;
    const emailOf = (id: string) => db.selectFrom('accounts').select('email').where('id', '=', id).executeTakeFirst();
    for (let round = 0; round < 3; round++) {
      expect((await emailOf(a.accountId))?.email).toBe(a.email);
      expect((await emailOf(b.accountId))?.email).toBe(b.email);
      expect(await emailOf('acct_none')).toBeUndefined();
    }
    // A kept statement that writes reports its own changes each time.
    const renamed = await db.updateTable('accounts').set({ low_balance_threshold: 5 }).where('id', '=', a.accountId).executeTakeFirst();
    const none = await db.updateTable('accounts').set({ low_balance_threshold: 5 }).where('id', '=', 'acct_none').executeTakeFirst();
    expect([renamed.numUpdatedRows, none.numUpdatedRows]).toEqual([1n, 0n]);
  });
});

describe.runIf(dialect === 'sqlite')('credits answered without Kysely on SQLite', () => {
  it('never reads a balance that another request has changed but not committed', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { scope: 'READ', environment: 'LIVE' });
    const CREDITS = '{ credits { balance } }';
    await t.database.db.updateTable('accounts').set({ credit_balance: 40 }).where('id', '=', owner.accountId).execute();
    expect((await t.gql(CREDITS, { key: key.secret })).body.data.credits.balance).toBe(40);

    // A transaction holds the (single) connection with an uncommitted change, then rolls back.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const transaction = t.database.db
      .transaction()
      .execute(async (trx) => {
        await trx.updateTable('accounts').set({ credit_balance: 1040 }).where('id', '=', owner.accountId).execute();
        await held;
        throw new Error('roll back');
      })
      .catch(() => 'rolled back');
    await new Promise((resolve) => setImmediate(resolve));
    const during = t.gql(CREDITS, { key: key.secret });
    // Long enough for the request to reach its resolver while the transaction is open.
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    expect(await transaction).toBe('rolled back');
    expect((await during).body.data.credits.balance).toBe(40);
  });
});

describe.runIf(dialect === 'sqlite')('balances kept at a database version on SQLite', () => {
  // Over a real socket: each request is read in a turn of the event loop of its own, as a
  // client's next request is.
  const balance = async (secret: string): Promise<number> => {
    const response = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
      body: JSON.stringify({ query: '{ credits { balance } }' }),
    });
    return ((await response.json()) as { data: { credits: { balance: number } } }).data.credits.balance;
  };

  it('are read again after every write of this process: a createJob debit, a direct update', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { scope: 'READ_WRITE', environment: 'LIVE' });
    await t.database.db.updateTable('accounts').set({ credit_balance: 40 }).where('id', '=', owner.accountId).execute();
    expect(await balance(key.secret)).toBe(40);
    expect(await balance(key.secret)).toBe(40);
    const created = await t.gql('mutation { createJob(input: { kind: STAGE }) { job { id } } }', { key: key.secret });
    expect(created.body.errors).toBeUndefined();
    expect(await balance(key.secret)).toBe(39);
    await t.database.db.updateTable('accounts').set({ credit_balance: 7 }).where('id', '=', owner.accountId).execute();
    expect(await balance(key.secret)).toBe(7);
  });

  it('see a grant committed by another process (the operator command line) on the next request', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { scope: 'READ', environment: 'LIVE' });
    expect(await balance(key.secret)).toBe(0);
    expect(await balance(key.secret)).toBe(0);
    const other = new SqliteDatabase(t.config.databaseUrl.slice('file:'.length));
    try {
      other.prepare('update accounts set credit_balance = credit_balance + 25 where id = ?').run(owner.accountId);
    } finally {
      other.close();
    }
    expect(await balance(key.secret)).toBe(25);
  });
});

describe('coded refusals', () => {
  it('carry no stack trace (never shown or logged; capturing one was most of a refused request)', () => {
    const error = keyscopeError('FORBIDDEN', 'no');
    expect(error.stack ?? '').not.toMatch(/\n\s+at /);
    expect(error.extensions).toEqual({ code: 'FORBIDDEN' });
    expect(Error.stackTraceLimit).toBeGreaterThan(0);
  });
});
