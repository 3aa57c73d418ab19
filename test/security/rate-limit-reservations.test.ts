// Reservations of the shared per-key limits on PostgreSQL: each instance reserves a slice of a
// key's request window (and of its query-cost bucket) in one statement and spends it locally.
// Two app instances on one schema, each with its own limiters, receive concurrent requests of
// one key; whatever the interleaving, together they never admit more than one counter would,
// and when requests keep coming to both, no less either. The clock stands still unless a test
// moves it (the budget refills with time), so the counts are exact.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type KeyscopeApp, createApp } from '../../src/app.ts';
import { COST_BUDGET } from '../../src/rate-limits/cost-budget.ts';
import { COST_BUDGET_TABLE, RATE_LIMIT_TABLE } from '../../src/rate-limits/limiter-store.ts';
import { type TestApp, createKey, createTestApp, dialect, signUp } from '../harness.ts';

interface Answer {
  status: number;
  headers: Headers;
  body: { data?: unknown; errors?: { extensions: { code: string } }[]; extensions?: { cost?: { requested: number; remaining: number } } };
}

const VIEWER = '{ viewer { authMethod } }';
// 1 for the connection, 12 × (edge 1 + node 1): 25 points, 40 of them fill the bucket exactly.
const COSTS_25 = '{ jobs(first: 12) { edges { node { id } } } }';
// 201 + 99 points.
const COSTS_300 = '{ a: jobs(first: 100) { edges { node { id } } } b: jobs(first: 49) { edges { node { id } } } }';

async function ask(app: KeyscopeApp, secret: string, query: string): Promise<Answer> {
  const response = await app.yoga.fetch(
    'http://localhost/graphql',
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${secret}` },
      body: JSON.stringify({ query }),
    },
    { remoteAddress: '127.0.0.1' },
  );
  return { status: response.status, headers: response.headers, body: await response.json() };
}

/** `count` requests at once, alternating between the instances; answers in sending order. */
function burst(instances: KeyscopeApp[], secret: string, query: string, count: number): Promise<Answer[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => ask(instances[i % instances.length] as KeyscopeApp, secret, query)));
}

function admitted(answers: Answer[]): number {
  return answers.filter((a) => a.status === 200).length;
}

function refusedAsRateLimited(answers: Answer[]): boolean {
  return answers.filter((a) => a.status !== 200).every((a) => a.status === 429 && a.body.errors?.[0]?.extensions.code === 'RATE_LIMITED');
}

describe.runIf(dialect === 'postgres')('reserved slices of the shared limits, two instances on one PostgreSQL schema', () => {
  let t: TestApp;
  let a: KeyscopeApp;
  let b: KeyscopeApp;
  beforeAll(async () => {
    t = await createTestApp({ KEYSCOPE_DEFAULT_RATE_LIMIT: '5/60s' });
    a = t.app;
    // A second instance: the same database, its own limiters and slices.
    b = createApp({ config: t.config, database: t.database, clock: t.clock, mailer: t.mailer });
  });
  afterAll(async () => {
    await t.close();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const frozen = () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now());
  };
  const later = (ms: number) => vi.setSystemTime(Date.now() + ms);

  async function windowCount(keyId: string, windowSeconds: number): Promise<number> {
    const rows = await t.database.pgPool?.query<{ points: number }>(`select points from ${RATE_LIMIT_TABLE} where key = $1`, [`key:${keyId}:${windowSeconds}`]);
    return Number(rows?.rows[0]?.points ?? 0);
  }

  async function budgetTat(keyId: string): Promise<number> {
    const rows = await t.database.pgPool?.query<{ tat: number }>(`select tat from ${COST_BUDGET_TABLE} where key = $1`, [keyId]);
    return Number(rows?.rows[0]?.tat ?? 0);
  }

  it('reserves a tenth of the quota at a time, and says what is left as the instance sees it', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { environment: 'TEST', rateLimit: { requests: 200, windowSeconds: 60 } });
    frozen();
    const first = await ask(a, key.secret, VIEWER);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit')).toBe('"key";r=199;t=60');
    // The shared window was charged for the whole slice at once.
    expect(await windowCount(key.id, 60)).toBe(20);
    // The next 19 come from the slice: nothing more is counted in the database.
    for (let i = 2; i <= 20; i++) expect((await ask(a, key.secret, VIEWER)).headers.get('ratelimit')).toBe(`"key";r=${200 - i};t=60`);
    expect(await windowCount(key.id, 60)).toBe(20);
    // The other instance sees the 20 reserved by the first, and holds 19 of its own slice.
    const onB = await ask(b, key.secret, VIEWER);
    expect(onB.headers.get('ratelimit')).toBe('"key";r=179;t=60');
    expect(await windowCount(key.id, 60)).toBe(40);
  });

  it('makes concurrent requests of a key on one instance share one reservation', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { environment: 'TEST', rateLimit: { requests: 200, windowSeconds: 60 } });
    frozen();
    const answers = await burst([a], key.secret, VIEWER, 20);
    expect(admitted(answers)).toBe(20);
    // One slice of 20 served them all, however they arrived.
    expect(await windowCount(key.id, 60)).toBe(20);
  });

  it('admits exactly the quota of a key spread over both instances, concurrently', async () => {
    const owner = await signUp(t);
    // Slices of 20: the last reservation that gets anything gets 5.
    const key = await createKey(t, owner, { environment: 'TEST', rateLimit: { requests: 205, windowSeconds: 60 } });
    frozen();
    const answers = await burst([a, b], key.secret, VIEWER, 600);
    expect(admitted(answers)).toBe(205);
    expect(refusedAsRateLimited(answers)).toBe(true);
    // Both instances admitted part of it: the quota really was shared.
    expect(admitted(answers.filter((_, i) => i % 2 === 0))).toBeGreaterThan(0);
    expect(admitted(answers.filter((_, i) => i % 2 === 1))).toBeGreaterThan(0);
    expect(await windowCount(key.id, 60)).toBeGreaterThanOrEqual(205);
  });

  it('lets an instance spend the slice it holds after the other has used the rest, never more; a new window starts from nothing', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { environment: 'TEST', rateLimit: { requests: 200, windowSeconds: 60 } });
    frozen();
    expect((await ask(a, key.secret, VIEWER)).status).toBe(200);
    // B takes everything but the 19 that A holds.
    const onB = await burst([b], key.secret, VIEWER, 250);
    expect(admitted(onB)).toBe(180);
    expect(refusedAsRateLimited(onB)).toBe(true);
    const onA = await burst([a], key.secret, VIEWER, 40);
    expect(admitted(onA)).toBe(19);
    expect(refusedAsRateLimited(onA)).toBe(true);

    // A fresh window: A reserves anew rather than keep a slice of the last one.
    expect((await ask(a, key.secret, VIEWER)).status).toBe(429);
    later(61_000);
    expect((await ask(a, key.secret, VIEWER)).status).toBe(200);
    later(61_000);
    // A holds 19 of a window that is over; the new one gives both instances 200 together.
    const next = await burst([a, b], key.secret, VIEWER, 600);
    expect(admitted(next)).toBe(200);
  });

  it("never lets slices reserved under a key's former quota pass its new one", async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { environment: 'TEST', rateLimit: { requests: 200, windowSeconds: 60 } });
    frozen();
    expect((await ask(a, key.secret, VIEWER)).status).toBe(200);
    expect((await ask(b, key.secret, VIEWER)).status).toBe(200);
    // Each instance holds 19 requests of a 200 quota; the same window (60 s) now allows 10.
    // Changed through A, which has seen the change once the mutation answers.
    const changed = await t.gql('mutation($input: UpdateApiKeyInput!) { updateApiKey(input: $input) { apiKey { id } } }', {
      variables: { input: { id: key.id, rateLimit: { requests: 10, windowSeconds: 60 } } },
      session: owner.jar,
    });
    expect(changed.body.data.updateApiKey.apiKey.id).toBe(key.id);
    const answers = await burst([a], key.secret, VIEWER, 30);
    expect(answers[0]?.headers.get('ratelimit-policy')).toBe('"key";q=10;w=60');
    expect(2 + admitted(answers)).toBeLessThanOrEqual(10);
  });

  it('counts one by one when the quota is small (slices of one request)', async () => {
    const owner = await signUp(t);
    // The default here: 5 per 60 s.
    const key = await createKey(t, owner, { environment: 'TEST' });
    frozen();
    const answers = await burst([a, b], key.secret, VIEWER, 20);
    expect(admitted(answers)).toBe(5);
    // Once an instance has seen the window full, it refuses without asking the database:
    // at most one reservation per instance comes back empty.
    expect(await windowCount(key.id, 60)).toBeLessThanOrEqual(7);
  });

  it('never lets the two instances together spend more than the cost budget', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { environment: 'TEST', rateLimit: { requests: 1000, windowSeconds: 60 } });
    frozen();
    // 300 points first, reserved as they are (more than a slice): the 700 left are not a
    // whole number of slices, so the last reservation gets only part of what it asks.
    const opening = await ask(a, key.secret, COSTS_300);
    expect(opening.body.extensions?.cost).toEqual({ requested: 300, remaining: 700 });
    const answers = await burst([a, b], key.secret, COSTS_25, 100);
    expect(admitted(answers)).toBe(700 / 25);
    expect(refusedAsRateLimited(answers)).toBe(true);
    expect(answers.filter((r) => r.status === 200).every((r) => r.body.extensions?.cost?.requested === 25)).toBe(true);
    // The shared bucket is empty: its tat is a full bucket's refill away.
    expect((await budgetTat(key.id)) - Date.now()).toBe(COST_BUDGET.capacity * (1000 / COST_BUDGET.restorePerSecond));
  });

  it('does not let a slice outlive the refill of what it reserved', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { environment: 'TEST', rateLimit: { requests: 1000, windowSeconds: 60 } });
    frozen();
    const start = Date.now();
    const first = await ask(a, key.secret, COSTS_25);
    expect(first.body.extensions?.cost).toEqual({ requested: 25, remaining: COST_BUDGET.capacity - 25 });
    // A reserved 200 points (4 s of refill) and holds 175 of them.
    expect((await budgetTat(key.id)) - start).toBe(4000);
    // Long enough for the shared bucket to be full again: A's slice has run out meanwhile, or
    // the key could spend 1000 + 175 points at once.
    later(20_000);
    const answers = await burst([a, b], key.secret, COSTS_25, 100);
    expect(admitted(answers)).toBe(COST_BUDGET.capacity / 25);
  });

  it('spends what a slice still holds while the shared bucket refills, and reports the bucket as one', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { environment: 'TEST', rateLimit: { requests: 1000, windowSeconds: 60 } });
    frozen();
    expect((await ask(a, key.secret, COSTS_25)).status).toBe(200);
    // B empties the shared bucket; A still holds 175 points.
    const onB = await burst([b], key.secret, COSTS_25, 40);
    expect(admitted(onB)).toBe(32);
    const refusal = onB.find((r) => r.status === 429);
    expect(refusal?.body.extensions?.cost?.remaining).toBe(0);
    // One second later, 50 points have come back to the shared bucket, and A's slice has run
    // down with time from where its spending had got to (0.5 s ahead): 150 + 50 points, 8
    // operations, whichever instance asks. (One exact bucket would allow 9: a slice can only
    // ever give less.)
    later(1000);
    const next = await burst([a, b], key.secret, COSTS_25, 20);
    expect(admitted(next)).toBe(8);
  });
});

describe.runIf(dialect === 'postgres')('when the shared counters fail', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ KEYSCOPE_DEFAULT_RATE_LIMIT: '5/60s' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('counts requests per key in memory instead (the insurance), and still refuses past the quota', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { environment: 'TEST' });
    expect((await ask(t.app, key.secret, VIEWER)).status).toBe(200);
    // The shared windows are gone: every reservation fails from now on.
    await t.database.pgPool?.query(`drop table ${RATE_LIMIT_TABLE}`);
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await ask(t.app, key.secret, VIEWER)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
  });
});
