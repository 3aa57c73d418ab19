// Rate limits: requests per key (429, Retry-After, IETF RateLimit headers, shared across
// instances on PostgreSQL), attempts at the account flows (per account and per IP, counted
// per attempt so aliases do not multiply guesses) and the query-cost budget of keys.
import { parse } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../src/app.ts';
import { ipBucket } from '../../src/rate-limits/account-limits.ts';
import { COST_BUDGET } from '../../src/rate-limits/cost-budget.ts';
import { operationCost } from '../../src/rate-limits/query-cost.ts';
import { selectedOperation } from '../../src/http/root-fields.ts';
import { buildSchema } from '../../src/schema/index.ts';
import { PASSWORD, type TestApp, createKey, createTestApp, dialect, signUp, uniqueEmail } from '../harness.ts';

const VIEWER = '{ viewer { authMethod } }';
const LOGIN = 'mutation($input: CredentialsInput!) { login(input: $input) { account { id } } }';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ KEYSCOPE_DEFAULT_RATE_LIMIT: '5/60s', KEYSCOPE_AUTH_IP_LIMIT: '1000/900s' });
});
afterAll(async () => {
  await t.close();
});
afterEach(() => {
  vi.useRealTimers();
});

async function auditCount(accountId: string, action: string): Promise<number> {
  const rows = await t.database.db.selectFrom('audit_events').select('id').where('account_id', '=', accountId).where('action', '=', action).execute();
  return rows.length;
}

describe('requests per key', () => {
  it('advertises the default quota on every keyed response and refuses the whole request past it with 429', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { environment: 'TEST' });
    for (let i = 1; i <= 5; i++) {
      const res = await t.gql(VIEWER, { key: key.secret });
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-policy')).toBe('"key";q=5;w=60');
      expect(res.headers.get('ratelimit')).toMatch(new RegExp(`^"key";r=${5 - i};t=([1-9]|[1-5][0-9]|60)$`));
    }
    const refused = await t.gql('mutation { createJob(input: { kind: STAGE }) { job { id } } }', { key: key.secret });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(refused.headers.get('ratelimit')).toMatch(/^"key";r=0;t=\d+$/);
    expect(refused.body.data).toBeUndefined();
    expect(refused.body.errors).toHaveLength(1);
    expect(refused.body.errors[0].extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: Number(refused.headers.get('retry-after')) });
    // Nothing ran.
    const jobs = await t.database.db.selectFrom('jobs').select('id').where('account_id', '=', owner.accountId).execute();
    expect(jobs).toHaveLength(0);
    // Session and anonymous callers carry no key quota headers.
    const session = await t.gql(VIEWER, { session: owner.jar });
    expect(session.status).toBe(200);
    expect(session.headers.get('ratelimit')).toBeNull();
  });

  it("uses the key's own rateLimit, per key, and opens a new window when the old one ends", async () => {
    const owner = await signUp(t);
    const own = await createKey(t, owner, { environment: 'TEST', rateLimit: { requests: 2, windowSeconds: 10 } });
    const other = await createKey(t, owner, { environment: 'TEST' });
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now());
    expect((await t.gql(VIEWER, { key: own.secret })).headers.get('ratelimit-policy')).toBe('"key";q=2;w=10');
    expect((await t.gql(VIEWER, { key: own.secret })).status).toBe(200);
    expect((await t.gql(VIEWER, { key: own.secret })).status).toBe(429);
    // Another key of the same account has its own counter.
    expect((await t.gql(VIEWER, { key: other.secret })).status).toBe(200);
    vi.setSystemTime(Date.now() + 10_500);
    const again = await t.gql(VIEWER, { key: own.secret });
    expect(again.status).toBe(200);
    expect(again.headers.get('ratelimit')).toMatch(/^"key";r=1;t=(9|10)$/);
  });

  it('is not spent by requests refused before the key is accepted (bad key: 401, no quota headers)', async () => {
    const res = await t.gql(VIEWER, { key: 'sk_live_not-a-key' });
    expect(res.status).toBe(401);
    expect(res.headers.get('ratelimit')).toBeNull();
  });

  it.runIf(dialect === 'postgres')('is shared by several instances on PostgreSQL: together they honour one limit', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { environment: 'TEST', rateLimit: { requests: 6, windowSeconds: 60 } });
    // A second server instance on the same database (its own memory, its own limiters).
    const second = createApp({ config: t.config, database: t.database, clock: t.clock, mailer: t.mailer });
    const viaSecond = async () => {
      const response = await second.yoga.fetch('http://localhost/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key.secret}` },
        body: JSON.stringify({ query: VIEWER }),
      });
      return response.status;
    };
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await t.gql(VIEWER, { key: key.secret })).status);
      statuses.push(await viaSecond());
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(6);
    expect(statuses.filter((s) => s === 429)).toHaveLength(4);
  });
});

describe('sign-in attempts', () => {
  it('allows 10 wrong passwords per account per 15 minutes, then refuses even the right one; aliases count one by one', async () => {
    const owner = await signUp(t);
    const wrong = { email: owner.email, password: 'wrong password 123' };
    // Twelve guesses in one operation: each alias is an attempt.
    const aliases = Array.from({ length: 12 }, (_, i) => `a${i}: login(input: $input) { account { id } }`).join(' ');
    const burst = await t.gql(`mutation($input: CredentialsInput!) { ${aliases} }`, { variables: { input: wrong } });
    const codes = burst.body.errors.map((e: { extensions: { code: string } }) => e.extensions.code).sort();
    expect(codes.filter((c: string) => c === 'UNAUTHENTICATED')).toHaveLength(10);
    expect(codes.filter((c: string) => c === 'RATE_LIMITED')).toHaveLength(2);
    expect(await auditCount(owner.accountId, 'login.failed')).toBe(10);

    const right = await t.gql(LOGIN, { variables: { input: { email: owner.email, password: PASSWORD } } });
    expect(right.body.data.login).toBeNull();
    expect(right.body.errors[0].extensions.code).toBe('RATE_LIMITED');
    expect(right.body.errors[0].extensions.retryAfter).toBeGreaterThan(850);
    expect(right.headers.getSetCookie()).toEqual([]);
    // Other spellings of the same address are the same account.
    const shouted = await t.gql(LOGIN, { variables: { input: { email: ` ${owner.email.toUpperCase()} `, password: PASSWORD } } });
    expect(shouted.body.errors[0].extensions.code).toBe('RATE_LIMITED');
    expect(await auditCount(owner.accountId, 'login.failed')).toBe(10);
    expect(await auditCount(owner.accountId, 'login')).toBe(0);

    // Another account from the same address is not affected.
    const other = await signUp(t);
    const fine = await t.gql(LOGIN, { variables: { input: { email: other.email, password: PASSWORD } } });
    expect(fine.body.data.login.account.id).toBe(other.accountId);

    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 15 * 60 * 1000 + 1000);
    const later = await t.gql(LOGIN, { variables: { input: { email: owner.email, password: PASSWORD } } });
    expect(later.body.data.login.account.id).toBe(owner.accountId);
  });

  it('gives back successful attempts, and counts unknown emails exactly like known ones', async () => {
    const owner = await signUp(t);
    for (let i = 0; i < 12; i++) {
      const res = await t.gql(LOGIN, { variables: { input: { email: owner.email, password: PASSWORD } } });
      expect(res.body.data.login.account.id).toBe(owner.accountId);
    }
    const unknown = uniqueEmail();
    const answers: string[] = [];
    for (let i = 0; i < 11; i++) {
      const res = await t.gql(LOGIN, { variables: { input: { email: unknown, password: 'whatever it is 1' } } });
      answers.push(res.body.errors[0].extensions.code);
    }
    expect(answers).toEqual([...Array(10).fill('UNAUTHENTICATED'), 'RATE_LIMITED']);
  });
});

describe('per-IP limits on the account flows', () => {
  let small: TestApp;
  beforeAll(async () => {
    small = await createTestApp({ KEYSCOPE_AUTH_IP_LIMIT: '4/900s' });
  });
  afterAll(async () => {
    await small.close();
  });

  const REGISTER = 'mutation($input: CredentialsInput!) { register(input: $input) { account { id } } }';
  const register = (remoteAddress: string) =>
    small.gql(REGISTER, { variables: { input: { email: uniqueEmail(), password: PASSWORD } }, remoteAddress });

  it('counts registrations, failed token redemptions and emails asked for from one address; IPv6 per /64', async () => {
    expect((await register('203.0.113.7')).body.data.register.account.id).toMatch(/^acct_/);
    const badToken = await small.gql('mutation { verifyEmail(input: { token: "nope" }) { account { id } } }', { remoteAddress: '203.0.113.7' });
    expect(badToken.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    const reset = await small.gql('mutation($e: String!) { requestPasswordReset(input: { email: $e }) { ok } }', {
      variables: { e: uniqueEmail() },
      remoteAddress: '203.0.113.7',
    });
    expect(reset.body.data.requestPasswordReset.ok).toBe(true);
    expect((await register('203.0.113.7')).body.data.register.account.id).toMatch(/^acct_/);
    const before = await small.database.db.selectFrom('accounts').select('id').execute();
    const refused = await register('203.0.113.7');
    expect(refused.body.data.register).toBeNull();
    expect(refused.body.errors[0].extensions).toMatchObject({ code: 'RATE_LIMITED' });
    expect(refused.body.errors[0].extensions.retryAfter).toBeGreaterThan(0);
    expect(await small.database.db.selectFrom('accounts').select('id').execute()).toHaveLength(before.length);
    // Another address is unaffected.
    expect((await register('198.51.100.9')).body.data.register.account.id).toMatch(/^acct_/);

    // IPv6: rotating addresses inside one /64 does not reset the count.
    for (let i = 1; i <= 4; i++) expect((await register(`2001:db8:1:2::${i}`)).body.data.register).not.toBeNull();
    expect((await register('2001:db8:1:2:ffff::1')).body.errors[0].extensions.code).toBe('RATE_LIMITED');
    expect((await register('2001:db8:1:3::1')).body.data.register).not.toBeNull();
  });

  it('groups addresses into buckets: IPv4 alone, IPv4-mapped as IPv4, IPv6 by /64', () => {
    expect(ipBucket('203.0.113.7')).toBe('203.0.113.7');
    expect(ipBucket('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(ipBucket('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(ipBucket('2001:0db8:0001:0002::')).toBe('2001:db8:1:2::/64');
  });
});

describe('emails asked for', () => {
  it('sends at most 5 reset emails per address per hour, and answers the same for unknown addresses', async () => {
    const owner = await signUp(t);
    const REQUEST = 'mutation($e: String!) { requestPasswordReset(input: { email: $e }) { ok } }';
    const sentBefore = t.mailer.sent.filter((m) => m.to === owner.email).length;
    const known: string[] = [];
    const unknown: string[] = [];
    const stranger = uniqueEmail();
    for (let i = 0; i < 6; i++) {
      const a = await t.gql(REQUEST, { variables: { e: owner.email } });
      known.push(a.body.data?.requestPasswordReset?.ok ? 'ok' : a.body.errors[0].extensions.code);
      const b = await t.gql(REQUEST, { variables: { e: stranger } });
      unknown.push(b.body.data?.requestPasswordReset?.ok ? 'ok' : b.body.errors[0].extensions.code);
    }
    expect(known).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'RATE_LIMITED']);
    expect(unknown).toEqual(known);
    expect(t.mailer.sent.filter((m) => m.to === owner.email).length - sentBefore).toBe(5);
  });
});

describe('query cost', () => {
  const schema = buildSchema();
  const cost = (query: string, variables: Record<string, unknown> = {}) => {
    const document = parse(query);
    const operation = selectedOperation(document, undefined);
    if (!operation) throw new Error('no operation');
    return operationCost(schema, document, operation, variables);
  };

  it('prices objects 1, scalars 0, connections by `first` (variables included), mutations 10', () => {
    expect(cost('{ health { status } }')).toBe(1);
    expect(cost('{ viewer { authMethod account { id email } apiKey { id restrictions { allowedIps } } } }')).toBe(4);
    // 1 for the connection, `first` times its edges (edge 1 + node 1), pageInfo once.
    expect(cost('{ jobs(first: 50) { edges { node { id } } pageInfo { hasNextPage } } }')).toBe(1 + 50 * 2 + 1);
    expect(cost('{ jobs { edges { node { id } } } }')).toBe(1 + 20 * 2);
    expect(cost('query($n: Int) { jobs(first: $n) { edges { node { id } } } }', { n: 100 })).toBe(1 + 100 * 2);
    expect(cost('query($n: Int) { jobs(first: $n) { edges { node { id } } } }', { n: 5000 })).toBe(1 + 100 * 2);
    expect(cost('mutation { a: logout { ok } b: logout { ok } }')).toBe(20);
  });

  it('cannot be hidden in fragments, aliases or directives', () => {
    const fragments = `
      query { a: jobs(first: 100) { ...Page } b: jobs(first: 100) { ...Page } skipped: jobs(first: 100) @skip(if: true) { ...Page } }
      fragment Page on JobConnection { edges { node { ...Fields } } }
      fragment Fields on Job { id }`;
    expect(cost(fragments)).toBe(2 * (1 + 100 * 2));
    expect(cost('query($no: Boolean!) { jobs(first: 100) @include(if: $no) { edges { node { id } } } }', { no: false })).toBe(0);
  });

  // The budget refills with time: the clock stands still in these tests unless advanced.
  const frozen = () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now());
  };
  const roomy = { environment: 'TEST', rateLimit: { requests: 1000, windowSeconds: 60 } };

  it('reports extensions.cost to keys, refuses queries above the maximum before execution, and 429s an empty budget', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, roomy);
    frozen();
    const cheap = await t.gql(VIEWER, { key: key.secret });
    expect(cheap.body.extensions.cost).toEqual({ requested: 1, remaining: COST_BUDGET.capacity - 1 });

    // Ten pages of 100 jobs: 10 × 201 points, over the 1000-point maximum for everyone.
    const pages = Array.from({ length: 10 }, (_, i) => `p${i}: jobs(first: $n) { edges { node { id } } }`).join(' ');
    const huge = await t.gql(`query($n: Int) { ${pages} }`, { key: key.secret, variables: { n: 100 } });
    expect(huge.status).toBe(400);
    expect(huge.body.data).toBeUndefined();
    expect(huge.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'max_cost', requestedCost: 2010 });
    expect(huge.body.errors[0].message).toMatch(/costs 2010 points; the most one operation may cost is 1000/);

    // Four pages of 100 and a half: 4 × 201 = 804 points, twice, empties the bucket.
    const four = `query { ${Array.from({ length: 4 }, (_, i) => `p${i}: jobs(first: 100) { edges { node { id } } }`).join(' ')} }`;
    const first = await t.gql(four, { key: key.secret });
    expect(first.status).toBe(200);
    expect(first.body.extensions.cost.requested).toBe(804);
    const second = await t.gql(four, { key: key.secret });
    expect(second.status).toBe(429);
    expect(second.body.errors[0].extensions.code).toBe('RATE_LIMITED');
    expect(second.body.extensions.cost.requested).toBe(804);
    expect(second.body.extensions.cost.remaining).toBeLessThan(804);
    const retryAfter = Number(second.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    // The budget refills at 50 points per second.
    t.clock.advance(retryAfter * 1000);
    const third = await t.gql(four, { key: key.secret });
    expect(third.status).toBe(200);
    // Nothing is charged to sessions.
    const session = await t.gql(VIEWER, { session: owner.jar });
    expect(session.body.extensions?.cost).toBeUndefined();
  });

  it('charges each key its own budget, and a refused request runs nothing', async () => {
    const owner = await signUp(t);
    const spender = await createKey(t, owner, roomy);
    const bystander = await createKey(t, owner, roomy);
    frozen();
    const creates = Array.from({ length: 15 }, (_, i) => `c${i}: createJob(input: { kind: STAGE }) { job { id } }`).join(' ');
    // 15 mutations × 10 = 150 points; 6 of them fit in 1000, the 7th does not.
    for (let i = 0; i < 6; i++) expect((await t.gql(`mutation { ${creates} }`, { key: spender.secret })).status).toBe(200);
    const jobsBefore = await t.database.db.selectFrom('jobs').select('id').where('account_id', '=', owner.accountId).execute();
    const refused = await t.gql(`mutation { ${creates} }`, { key: spender.secret });
    expect(refused.status).toBe(429);
    const jobsAfter = await t.database.db.selectFrom('jobs').select('id').where('account_id', '=', owner.accountId).execute();
    expect(jobsAfter).toHaveLength(jobsBefore.length);
    expect((await t.gql(VIEWER, { key: bystander.secret })).body.extensions.cost.remaining).toBe(COST_BUDGET.capacity - 1);
  });
});
