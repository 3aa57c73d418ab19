import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, createKey, createTestApp, signUp } from '../harness.ts';
import { CREATE_JOB, CREDITS, grant } from '../credits/credits-helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const USAGE =
  'query($from: DateTime!, $to: DateTime!, $keyId: ID, $environment: Environment, $first: Int, $after: String) { usage(from: $from, to: $to, keyId: $keyId, environment: $environment, first: $first, after: $after) { edges { cursor node { day keyId environment requests errors creditsCharged } } pageInfo { hasNextPage endCursor } totals { requests errors creditsCharged } } }';
const DAY = 24 * 60 * 60 * 1000;
const today = () => new Date(t.clock.now()).toISOString().slice(0, 10);
const range = (days = 0) => ({ from: new Date(t.clock.now() - days * DAY).toISOString(), to: new Date(t.clock.now()).toISOString() });

describe('usage', () => {
  it('counts requests, errors and credits charged per key per day, written by a flush', async () => {
    const owner = await signUp(t);
    await grant(t, owner.email, 10);
    const live = await createKey(t, owner);
    const test = await createKey(t, owner, { environment: 'TEST' });
    for (let i = 0; i < 3; i += 1) await t.gql(CREDITS, { key: live.secret });
    await t.gql(CREATE_JOB, { key: live.secret, variables: { input: { kind: 'PLACE_PRODUCTS' } } });
    await t.gql('mutation { a: createJob(input: { kind: STAGE }) { job { id } } b: createJob(input: { kind: STAGE }) { job { id } } }', { key: live.secret });
    const broken = await t.gql('{ credits { ', { key: live.secret });
    expect(broken.status).toBe(400);
    // A field error inside an HTTP 200 answer counts as an error too.
    const missing = await t.gql('{ job(id: "job_0000000000000000000000") { id } }', { key: live.secret });
    expect(missing.status).toBe(200);
    expect(missing.body.errors[0].extensions.code).toBe('NOT_FOUND');
    await t.gql(CREATE_JOB, { key: test.secret, variables: { input: { kind: 'STAGE' } } });

    // Not written yet: counts are kept in memory until the next flush.
    const before = await t.gql(USAGE, { variables: range(), session: owner.jar });
    expect(before.body.data.usage.edges).toEqual([]);

    await t.app.flush();
    const res = await t.gql(USAGE, { variables: range(), session: owner.jar });
    const nodes = res.body.data.usage.edges.map((e: { node: unknown }) => e.node);
    expect(nodes).toHaveLength(2);
    expect(nodes).toEqual(
      expect.arrayContaining([
        { day: today(), keyId: live.id, environment: 'LIVE', requests: 7, errors: 2, creditsCharged: 4 },
        { day: today(), keyId: test.id, environment: 'TEST', requests: 1, errors: 0, creditsCharged: 0 },
      ]),
    );
    expect(res.body.data.usage.totals).toEqual({ requests: 8, errors: 2, creditsCharged: 4 });

    const onlyTest = await t.gql(USAGE, { variables: { ...range(), keyId: test.id }, session: owner.jar });
    expect(onlyTest.body.data.usage.edges.map((e: { node: { keyId: string } }) => e.node.keyId)).toEqual([test.id]);
    expect(onlyTest.body.data.usage.totals.requests).toBe(1);
    const onlyLive = await t.gql(USAGE, { variables: { ...range(), environment: 'LIVE' }, session: owner.jar });
    expect(onlyLive.body.data.usage.totals).toEqual({ requests: 7, errors: 2, creditsCharged: 4 });

    // A second flush adds to the same rows.
    await t.gql(CREDITS, { key: live.secret });
    await t.app.flush();
    const after = await t.gql(USAGE, { variables: { ...range(), keyId: live.id }, session: owner.jar });
    expect(after.body.data.usage.edges[0].node.requests).toBe(8);
  });

  it('pages newest day first, with totals over the whole range', async () => {
    const owner = await signUp(t);
    const keys = [await createKey(t, owner), await createKey(t, owner)];
    for (let day = 0; day < 3; day += 1) {
      for (const key of keys) await t.gql(CREDITS, { key: key.secret });
      await t.app.flush();
      t.clock.advance(DAY);
    }
    t.clock.advance(-DAY);
    // The access cookie has expired meanwhile: refresh the session as the dashboard would.
    expect((await t.gql('mutation { refreshSession { account { id } } }', { session: owner.jar })).body.errors).toBeUndefined();
    const seen: { day: string; keyId: string }[] = [];
    let after: string | null = null;
    do {
      const res = await t.gql(USAGE, { variables: { ...range(5), first: 4, after }, session: owner.jar });
      const usage = res.body.data.usage;
      expect(usage.totals.requests).toBe(6);
      seen.push(...usage.edges.map((e: { node: { day: string; keyId: string } }) => ({ day: e.node.day, keyId: e.node.keyId })));
      after = usage.pageInfo.hasNextPage ? usage.pageInfo.endCursor : null;
    } while (after);
    expect(seen).toHaveLength(6);
    const days = seen.map((s) => s.day);
    expect(days).toEqual([...days].sort().reverse());
    expect(new Set(seen.map((s) => `${s.day}${s.keyId}`)).size).toBe(6);
  });

  it('shows only the account’s own keys; another account’s key is NOT_FOUND', async () => {
    const owner = await signUp(t);
    const stranger = await signUp(t);
    const theirs = await createKey(t, stranger);
    await t.gql(CREDITS, { key: theirs.secret });
    await t.app.flush();
    const mine = await t.gql(USAGE, { variables: range(), session: owner.jar });
    expect(mine.body.data.usage.edges).toEqual([]);
    expect(mine.body.data.usage.totals).toEqual({ requests: 0, errors: 0, creditsCharged: 0 });
    const peek = await t.gql(USAGE, { variables: { ...range(), keyId: theirs.id }, session: owner.jar });
    expect(peek.body.errors[0].extensions.code).toBe('NOT_FOUND');
  });

  it('needs a session, a range of at most 366 days the right way round, and a real cursor', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    expect((await t.gql(USAGE, { variables: range(), key: key.secret })).body.errors[0].extensions.code).toBe('FORBIDDEN');
    const now = t.clock.now();
    const backwards = await t.gql(USAGE, { variables: { from: new Date(now).toISOString(), to: new Date(now - DAY).toISOString() }, session: owner.jar });
    expect(backwards.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'from' });
    const tooLong = await t.gql(USAGE, { variables: range(400), session: owner.jar });
    expect(tooLong.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'to' });
    const badCursor = await t.gql(USAGE, { variables: { ...range(), after: 'bm9wZQ' }, session: owner.jar });
    expect(badCursor.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
  });
});

describe('the usage recorder', () => {
  it('writes more key-days than one statement holds, adding to the rows already there', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    const recorder = t.app.deps.usage;
    const ref = { id: key.id, accountId: owner.accountId, environment: 'LIVE' as const };
    const days = 501;
    for (let i = 0; i < days; i++) recorder.recordRequest(ref, t.clock.now() - i * DAY, i % 2 === 0, 0);
    await recorder.flush();
    for (let i = 0; i < days; i++) recorder.recordRequest(ref, t.clock.now() - i * DAY, false, 0);
    await recorder.flush();
    const rows = await t.database.db.selectFrom('usage_daily').selectAll().where('key_id', '=', key.id).execute();
    expect(rows).toHaveLength(days);
    expect(rows.every((r) => Number(r.requests) === 2)).toBe(true);
    expect(rows.reduce((sum, r) => sum + Number(r.errors), 0)).toBe(251);
  });

  it('keeps counts that fail to flush, and writes them on the next flush', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    await t.gql(CREDITS, { key: key.secret });
    await t.gql(CREDITS, { key: key.secret });
    const recorder = t.app.deps.usage;
    // The database refuses one write (as if it were briefly away).
    const db = t.database.db;
    const original = db.insertInto.bind(db);
    let failNext = true;
    db.insertInto = ((table: Parameters<typeof db.insertInto>[0]) => {
      if (table === 'usage_daily' && failNext) {
        failNext = false;
        throw new Error('database unavailable');
      }
      return original(table);
    }) as typeof db.insertInto;
    try {
      await expect(recorder.flush()).rejects.toThrow(/unavailable/);
    } finally {
      db.insertInto = original;
    }
    await t.gql(CREDITS, { key: key.secret });
    await recorder.flush();
    const row = await t.database.db.selectFrom('usage_daily').selectAll().where('key_id', '=', key.id).executeTakeFirstOrThrow();
    expect(row.requests).toBe(3);
  });
});
