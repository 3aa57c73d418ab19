import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseApiKey } from '../../src/api-keys/api-key-format.ts';
import { LastUsedTracker } from '../../src/api-keys/last-used.ts';
import { ROWS_PER_STATEMENT } from '../../src/db/batches.ts';
import { type TestApp, createKey, createTestApp, signUp } from '../harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const CREATE = 'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { apiKey { id name prefix scope environment expiresAt revokedAt restrictions { allowedIps allowedReferrers allowedOperations } rateLimit { requests windowSeconds } } secret } }';
const VIEWER_KEY = '{ viewer { authMethod account { id } apiKey { id scope environment } } }';

describe('createApiKey', () => {
  it('returns the secret once, in the documented format, and stores only its hash', async () => {
    const owner = await signUp(t);
    const res = await t.gql(CREATE, { variables: { input: { name: 'server', scope: 'READ', environment: 'LIVE' } }, session: owner.jar });
    const { apiKey, secret } = res.body.data.createApiKey;
    expect(secret).toMatch(/^sk_live_[0-9A-Za-z]{38}$/);
    expect(parseApiKey(secret)).toBe('LIVE');
    expect(apiKey).toMatchObject({ name: 'server', scope: 'READ', environment: 'LIVE', revokedAt: null, rateLimit: null });
    expect(apiKey.prefix).toBe(secret.slice(0, 12));
    // Only the hash is stored: the secret appears nowhere in the database.
    const secrets = await t.database.db.selectFrom('api_key_secrets').selectAll().where('key_id', '=', apiKey.id).execute();
    expect(secrets).toHaveLength(1);
    expect(secrets[0]?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(await t.database.db.selectFrom('api_keys').selectAll().execute())).not.toContain(secret);
    // And it is never shown again.
    const list = await t.gql('{ apiKeys { edges { node { id prefix } } } }', { session: owner.jar });
    expect(JSON.stringify(list.body)).not.toContain(secret);
  });

  it('refuses LIVE keys until the email is verified, but allows TEST keys', async () => {
    const owner = await signUp(t, { verified: false });
    const live = await t.gql(CREATE, { variables: { input: { name: 'x', scope: 'READ', environment: 'LIVE' } }, session: owner.jar });
    expect(live.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'email_unverified' });
    const test = await t.gql(CREATE, { variables: { input: { name: 'x', scope: 'READ', environment: 'TEST' } }, session: owner.jar });
    expect(test.body.data.createApiKey.secret).toMatch(/^sk_test_/);
  });

  it('validates input: past expiry, bad CIDR, unknown operation, bad rate limit', async () => {
    const owner = await signUp(t);
    const base = { name: 'x', scope: 'READ', environment: 'TEST' };
    for (const input of [
      { ...base, expiresAt: new Date(Date.now() - 1000).toISOString() },
      { ...base, restrictions: { allowedIps: ['10.0.0.0/33'] } },
      { ...base, restrictions: { allowedReferrers: ['javascript:alert(1)'] } },
      { ...base, restrictions: { allowedOperations: ['dropDatabase'] } },
      { ...base, rateLimit: { requests: 0, windowSeconds: 1 } },
      { ...base, name: '' },
    ]) {
      const res = await t.gql(CREATE, { variables: { input }, session: owner.jar });
      expect(res.body.errors?.[0]?.extensions.code, JSON.stringify(input)).toBe('BAD_USER_INPUT');
    }
    const keys = await t.database.db.selectFrom('api_keys').select('id').where('account_id', '=', owner.accountId).execute();
    expect(keys).toHaveLength(0);
  });
});

describe('authentication with a key', () => {
  it('accepts Authorization: Bearer and X-Api-Key, and reports scope and environment', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { scope: 'READ', environment: 'TEST' });
    const bearer = await t.gql(VIEWER_KEY, { key: key.secret });
    expect(bearer.body.data.viewer).toEqual({ authMethod: 'API_KEY', account: { id: owner.accountId }, apiKey: { id: key.id, scope: 'READ', environment: 'TEST' } });
    const header = await t.gql(VIEWER_KEY, { headers: { 'x-api-key': key.secret } });
    expect(header.body.data.viewer.apiKey.id).toBe(key.id);
  });

  it('refuses malformed, mistyped and unknown keys as a whole: 401, WWW-Authenticate, one error', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    const flipped = `${key.secret.slice(0, 20)}${key.secret[20] === 'a' ? 'b' : 'a'}${key.secret.slice(21)}`;
    for (const bad of ['nonsense', key.secret.slice(0, -1), flipped, `sk_live_${'A'.repeat(38)}`]) {
      const res = await t.gql('{ health { status } }', { key: bad });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(res.body.errors).toHaveLength(1);
      expect(res.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
      expect(res.body.data).toBeUndefined();
    }
  });

  it('refuses two different keys in one request with 400', async () => {
    const owner = await signUp(t);
    const a = await createKey(t, owner);
    const b = await createKey(t, owner);
    const res = await t.gql('{ health { status } }', { key: a.secret, headers: { 'x-api-key': b.secret } });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('never reads a key from the URL', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    const res = await t.fetch(`/graphql?api_key=${key.secret}&query=${encodeURIComponent('{ health { status } }')}`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('prefers the API key over session cookies', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { scope: 'READ', environment: 'TEST' });
    const res = await t.gql(VIEWER_KEY, { key: key.secret, session: owner.jar });
    expect(res.body.data.viewer.authMethod).toBe('API_KEY');
  });

  it('updates lastUsedAt in batches, not on every request', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    await t.gql(VIEWER_KEY, { key: key.secret });
    const before = await t.database.db.selectFrom('api_keys').select('last_used_at').where('id', '=', key.id).executeTakeFirstOrThrow();
    expect(before.last_used_at).toBeNull();
    await t.app.flush();
    const after = await t.database.db.selectFrom('api_keys').select(['last_used_at', 'last_used_ip']).where('id', '=', key.id).executeTakeFirstOrThrow();
    expect(after.last_used_at).toBeGreaterThan(0);
    expect(after.last_used_ip).toBe('127.0.0.1');
    const shown = await t.gql('query($id: ID!) { apiKey(id: $id) { lastUsedAt lastUsedIp } }', { variables: { id: key.id }, session: owner.jar });
    expect(shown.body.data.apiKey.lastUsedIp).toBe('127.0.0.1');
  });

  it('writes the uses of more keys than one statement holds, and never moves lastUsedAt back', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    // More keys than one UPDATE takes: copies of the real key's row under other ids.
    const row = await t.database.db.selectFrom('api_keys').selectAll().where('id', '=', key.id).executeTakeFirstOrThrow();
    const ids = Array.from({ length: ROWS_PER_STATEMENT }, (_, i) => `${key.id}_copy${i}`);
    await t.database.db.insertInto('api_keys').values(ids.map((id) => ({ ...row, id }))).execute();
    const later = t.clock.now() + 60_000;
    // One copy was last used later than the uses below: the flush must leave it alone.
    await t.database.db.updateTable('api_keys').set({ last_used_at: later, last_used_ip: '192.0.2.1' }).where('id', '=', ids[7] ?? '').execute();
    await t.gql(VIEWER_KEY, { key: key.secret });
    const at = t.clock.now();
    for (const id of ids) t.app.deps.lastUsed.note(id, at, '198.51.100.9');
    await t.app.flush();
    const rows = await t.database.db.selectFrom('api_keys').select(['id', 'last_used_at', 'last_used_ip']).where('account_id', '=', row.account_id).execute();
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(key.id)?.last_used_ip).toBe('127.0.0.1');
    expect(byId.get(ids[7] ?? '')).toMatchObject({ last_used_at: later, last_used_ip: '192.0.2.1' });
    const written = ids.filter((id) => byId.get(id)?.last_used_ip === '198.51.100.9');
    expect(written).toHaveLength(ROWS_PER_STATEMENT - 1);
    expect(byId.get(ids.at(-1) ?? '')?.last_used_at).toBe(at);
  });

  it('keeps the uses a failed flush could not write, and writes them on the next', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    // A tracker on a connection that refuses its first statement (as if the database were briefly away).
    let refuse = true;
    const flaky = t.database.db.withPlugin({
      transformQuery({ node }) {
        if (refuse) {
          refuse = false;
          throw new Error('database unavailable');
        }
        return node;
      },
      transformResult: async ({ result }) => result,
    });
    const tracker = new LastUsedTracker(flaky);
    const at = t.clock.now();
    tracker.note(key.id, at, '203.0.113.5');
    await expect(tracker.flush()).rejects.toThrow(/unavailable/);
    const lastUsed = () => t.database.db.selectFrom('api_keys').select(['last_used_at', 'last_used_ip']).where('id', '=', key.id).executeTakeFirstOrThrow();
    expect((await lastUsed()).last_used_at).toBeNull();
    await tracker.flush();
    expect(await lastUsed()).toEqual({ last_used_at: at, last_used_ip: '203.0.113.5' });
  });
});

describe('revocation, expiry and rolling', () => {
  it('revocation takes effect on the very next request', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    expect((await t.gql(VIEWER_KEY, { key: key.secret })).status).toBe(200);
    const revoked = await t.gql('mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { revokedAt } } }', { variables: { id: key.id }, session: owner.jar });
    expect(revoked.body.data.revokeApiKey.apiKey.revokedAt).toBeTruthy();
    const res = await t.gql(VIEWER_KEY, { key: key.secret });
    expect(res.status).toBe(401);
    expect(res.body.errors[0].message).toMatch(/revoked/);
  });

  it('an expired key is refused', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { expiresAt: new Date(Date.now() + 60_000).toISOString() });
    expect((await t.gql(VIEWER_KEY, { key: key.secret })).status).toBe(200);
    t.clock.advance(61_000);
    try {
      const res = await t.gql(VIEWER_KEY, { key: key.secret });
      expect(res.status).toBe(401);
      expect(res.body.errors[0].message).toMatch(/expired/);
    } finally {
      t.clock.advance(-61_000);
    }
  });

  it('rolling keeps the old secret for the grace period only, and rolling again never extends it', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    const ROLL = 'mutation($id: ID!, $g: Int!) { rollApiKey(input: { id: $id, gracePeriodSeconds: $g }) { apiKey { id prefix } secret } }';
    const first = await t.gql(ROLL, { variables: { id: key.id, g: 60 }, session: owner.jar });
    const second = first.body.data.rollApiKey.secret;
    expect(first.body.data.rollApiKey.apiKey).toEqual({ id: key.id, prefix: second.slice(0, 12) });
    expect((await t.gql(VIEWER_KEY, { key: key.secret })).status).toBe(200);
    expect((await t.gql(VIEWER_KEY, { key: second })).status).toBe(200);
    // Rolling again with a longer grace must not extend the first secret.
    const third = (await t.gql(ROLL, { variables: { id: key.id, g: 3600 }, session: owner.jar })).body.data.rollApiKey.secret;
    t.clock.advance(61_000);
    try {
      expect((await t.gql(VIEWER_KEY, { key: key.secret })).status).toBe(401);
      expect((await t.gql(VIEWER_KEY, { key: second })).status).toBe(200);
      expect((await t.gql(VIEWER_KEY, { key: third })).status).toBe(200);
    } finally {
      t.clock.advance(-61_000);
    }
  });

  it('rolling with grace 0 stops the old secret at once', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    const res = await t.gql('mutation($id: ID!) { rollApiKey(input: { id: $id, gracePeriodSeconds: 0 }) { secret } }', { variables: { id: key.id }, session: owner.jar });
    expect((await t.gql(VIEWER_KEY, { key: key.secret })).status).toBe(401);
    expect((await t.gql(VIEWER_KEY, { key: res.body.data.rollApiKey.secret })).status).toBe(200);
  });
});

describe('restrictions', () => {
  it('allowedIps: CIDR ranges, IPv6, IPv4-mapped addresses; 403 outside', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { restrictions: { allowedIps: ['203.0.113.0/24', '2001:db8::/32'] } });
    expect((await t.gql(VIEWER_KEY, { key: key.secret, remoteAddress: '203.0.113.7' })).status).toBe(200);
    expect((await t.gql(VIEWER_KEY, { key: key.secret, remoteAddress: '::ffff:203.0.113.9' })).status).toBe(200);
    expect((await t.gql(VIEWER_KEY, { key: key.secret, remoteAddress: '2001:db8::1' })).status).toBe(200);
    const outside = await t.gql(VIEWER_KEY, { key: key.secret, remoteAddress: '198.51.100.1' });
    expect(outside.status).toBe(403);
    expect(outside.body.errors[0].extensions.code).toBe('FORBIDDEN');
    expect(outside.body.data).toBeUndefined();
  });

  it('ignores X-Forwarded-For unless the peer is a trusted proxy', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { restrictions: { allowedIps: ['203.0.113.0/24'] } });
    const spoofed = await t.gql(VIEWER_KEY, { key: key.secret, headers: { 'x-forwarded-for': '203.0.113.5' }, remoteAddress: '198.51.100.1' });
    expect(spoofed.status).toBe(403);
    const proxied = await createTestApp({ KEYSCOPE_TRUSTED_PROXIES: '10.0.0.0/8' });
    try {
      const o = await signUp(proxied);
      const k = await createKey(proxied, o, { restrictions: { allowedIps: ['203.0.113.0/24'] } });
      const ok = await proxied.gql(VIEWER_KEY, { key: k.secret, headers: { 'x-forwarded-for': '198.51.100.9, 203.0.113.5' }, remoteAddress: '10.1.2.3' });
      expect(ok.status).toBe(200);
      const notTrusted = await proxied.gql(VIEWER_KEY, { key: k.secret, headers: { 'x-forwarded-for': '203.0.113.5' }, remoteAddress: '198.51.100.1' });
      expect(notTrusted.status).toBe(403);
    } finally {
      await proxied.close();
    }
  });

  it('allowedReferrers: the Origin or Referer must match', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { restrictions: { allowedReferrers: ['https://app.example.com'] } });
    expect((await t.gql(VIEWER_KEY, { key: key.secret, headers: { origin: 'https://app.example.com' } })).status).toBe(200);
    expect((await t.gql(VIEWER_KEY, { key: key.secret, headers: { referer: 'https://app.example.com/page?x=1' } })).status).toBe(200);
    expect((await t.gql(VIEWER_KEY, { key: key.secret, headers: { origin: 'https://evil.example.com' } })).status).toBe(403);
    expect((await t.gql(VIEWER_KEY, { key: key.secret })).status).toBe(403);
  });

  it('allowedOperations: the root fields actually executed, whatever operationName or fragments say', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { restrictions: { allowedOperations: ['viewer'] } });
    expect((await t.gql('query health { viewer { authMethod } }', { key: key.secret })).status).toBe(200);
    for (const query of [
      '{ viewer { authMethod } health { status } }',
      'query viewer { health { status } }',
      'query { ...F } fragment F on Query { health { status } }',
      'query { ... on Query { h: health { status } } }',
    ]) {
      const res = await t.gql(query, { key: key.secret });
      expect(res.status, query).toBe(403);
      expect(res.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'operation_not_allowed' });
    }
    // A skipped field is not executed.
    const skipped = await t.gql('query($s: Boolean!) { viewer { authMethod } health @skip(if: $s) { status } }', { key: key.secret, variables: { s: true } });
    expect(skipped.status).toBe(200);
  });

  it('updateApiKey changes restrictions with effect on the next request', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    expect((await t.gql(VIEWER_KEY, { key: key.secret, remoteAddress: '198.51.100.1' })).status).toBe(200);
    const res = await t.gql(
      'mutation($input: UpdateApiKeyInput!) { updateApiKey(input: $input) { apiKey { name restrictions { allowedIps } } } }',
      { variables: { input: { id: key.id, name: 'renamed', restrictions: { allowedIps: ['203.0.113.1'] } } }, session: owner.jar },
    );
    expect(res.body.data.updateApiKey.apiKey).toEqual({ name: 'renamed', restrictions: { allowedIps: ['203.0.113.1'] } });
    expect((await t.gql(VIEWER_KEY, { key: key.secret, remoteAddress: '198.51.100.1' })).status).toBe(403);
    expect((await t.gql(VIEWER_KEY, { key: key.secret, remoteAddress: '203.0.113.1' })).status).toBe(200);
  });
});

describe('listing and ownership', () => {
  it('lists keys as a connection, filters by environment, hides revoked unless asked', async () => {
    const owner = await signUp(t);
    const live = await createKey(t, owner, { environment: 'LIVE' });
    const test = await createKey(t, owner, { environment: 'TEST' });
    const gone = await createKey(t, owner, { environment: 'TEST' });
    await t.gql('mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }', { variables: { id: gone.id }, session: owner.jar });
    const LIST = 'query($env: Environment, $rev: Boolean, $first: Int, $after: String) { apiKeys(environment: $env, includeRevoked: $rev, first: $first, after: $after) { edges { node { id } cursor } pageInfo { hasNextPage endCursor } } }';
    const ids = async (variables: Record<string, unknown>) =>
      (await t.gql(LIST, { variables, session: owner.jar })).body.data.apiKeys.edges.map((e: { node: { id: string } }) => e.node.id);
    expect(await ids({})).toEqual([test.id, live.id]);
    expect(await ids({ env: 'LIVE' })).toEqual([live.id]);
    expect(await ids({ rev: true })).toEqual([gone.id, test.id, live.id]);
    const page1 = (await t.gql(LIST, { variables: { rev: true, first: 2 }, session: owner.jar })).body.data.apiKeys;
    expect(page1.pageInfo.hasNextPage).toBe(true);
    expect(await ids({ rev: true, first: 2, after: page1.pageInfo.endCursor })).toEqual([live.id]);
  });

  it("another account's key is NOT_FOUND for every key operation, and is left unchanged", async () => {
    const owner = await signUp(t);
    const stranger = await signUp(t);
    const key = await createKey(t, owner);
    for (const query of [
      'query($id: ID!) { apiKey(id: $id) { id } }',
      'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }',
      'mutation($id: ID!) { rollApiKey(input: { id: $id, gracePeriodSeconds: 0 }) { secret } }',
      'mutation($id: ID!) { updateApiKey(input: { id: $id, name: "mine" }) { apiKey { id } } }',
    ]) {
      const res = await t.gql(query, { variables: { id: key.id }, session: stranger.jar });
      expect(res.body.errors[0].extensions.code, query).toBe('NOT_FOUND');
    }
    expect((await t.gql(VIEWER_KEY, { key: key.secret })).status).toBe(200);
    const row = await t.database.db.selectFrom('api_keys').select(['name', 'revoked_at']).where('id', '=', key.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ name: 'test key', revoked_at: null });
  });
});

describe('scopes', () => {
  it('session-only fields refuse API keys with FORBIDDEN; the rest of the operation runs', async () => {
    const owner = await signUp(t);
    const read = await createKey(t, owner, { scope: 'READ' });
    const both = await t.gql('{ viewer { authMethod } apiKeys { edges { cursor } } }', { key: read.secret });
    expect(both.body.data.viewer.authMethod).toBe('API_KEY');
    expect(both.body.data.apiKeys).toBeNull();
    expect(both.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'session_required' });
  });

  it('a WRITE key cannot read: viewer needs READ', async () => {
    const owner = await signUp(t);
    const write = await createKey(t, owner, { scope: 'WRITE' });
    const res = await t.gql('{ viewer { authMethod } health { status } }', { key: write.secret });
    expect(res.body.data).toEqual({ viewer: null, health: { status: 'ok' } });
    expect(res.body.errors[0]).toMatchObject({ path: ['viewer'], extensions: { code: 'FORBIDDEN', requiredScope: 'READ' } });
  });
});
