import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CookieJar, PASSWORD, type TestApp, createKey, createTestApp, signUp } from '../harness.ts';
import { grant, operator, tick } from '../credits/credits-helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const AUDIT =
  'query($first: Int, $after: String, $action: String) { auditEvents(first: $first, after: $after, action: $action) { edges { node { id action actorType actorId targetType targetId ip metadata createdAt } } pageInfo { hasNextPage endCursor } } }';

interface AuditNode {
  action: string;
  actorType: string;
  ip: string | null;
  targetId: string | null;
}

describe('auditEvents', () => {
  it('records who did what, when and from where, newest first, and never a secret', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { name: 'server' });
    await tick();
    const ip = '203.0.113.9';
    await t.gql('mutation($id: ID!) { updateApiKey(input: { id: $id, name: "renamed" }) { apiKey { id } } }', { variables: { id: key.id }, session: owner.jar, remoteAddress: ip });
    await tick();
    const rolled = await t.gql('mutation($id: ID!) { rollApiKey(input: { id: $id, gracePeriodSeconds: 0 }) { secret } }', { variables: { id: key.id }, session: owner.jar });
    await tick();
    await t.gql('mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }', { variables: { id: key.id }, session: owner.jar });
    await tick();
    await grant(t, owner.email, 5);
    await tick();
    const code = (await operator(t, ['claim-code', 'create', '--amount', '2'])).at(-1)!;
    await t.gql('mutation($code: String!) { claimCredits(input: { code: $code }) { balance } }', { variables: { code }, session: owner.jar });
    await tick();
    const second = new CookieJar();
    await t.gql('mutation($input: CredentialsInput!) { login(input: $input) { account { id } } }', { variables: { input: { email: owner.email, password: PASSWORD } }, session: second });
    await tick();
    await t.gql('mutation { logout { ok } }', { session: second });
    await tick();

    const res = await t.gql(AUDIT, { variables: { first: 50 }, session: owner.jar });
    const nodes: AuditNode[] = res.body.data.auditEvents.edges.map((e: { node: AuditNode }) => e.node);
    const actions = nodes.map((n) => n.action);
    expect(actions.slice(0, 8)).toEqual([
      'logout',
      'login',
      'credits.claimed',
      'credits.granted',
      'api_key.revoked',
      'api_key.rolled',
      'api_key.updated',
      'api_key.created',
    ]);
    const updated = nodes.find((n) => n.action === 'api_key.updated');
    expect(updated).toMatchObject({ actorType: 'SESSION', ip, targetId: key.id });
    expect(nodes.find((n) => n.action === 'credits.granted')).toMatchObject({ actorType: 'OPERATOR', ip: null });
    const text = JSON.stringify(res.body);
    for (const secret of [key.secret, rolled.body.data.rollApiKey.secret, code, PASSWORD]) expect(text).not.toContain(secret);
  });

  it('pages, filters by action, and shows only the account’s own events', async () => {
    const owner = await signUp(t);
    const stranger = await signUp(t);
    for (let i = 0; i < 3; i += 1) await createKey(t, owner, { name: `k${i}` });
    await createKey(t, stranger);
    const page1 = await t.gql(AUDIT, { variables: { first: 2, action: 'api_key.created' }, session: owner.jar });
    const page2 = await t.gql(AUDIT, { variables: { first: 2, action: 'api_key.created', after: page1.body.data.auditEvents.pageInfo.endCursor }, session: owner.jar });
    expect(page1.body.data.auditEvents.pageInfo.hasNextPage).toBe(true);
    expect(page1.body.data.auditEvents.edges).toHaveLength(2);
    expect(page2.body.data.auditEvents.edges).toHaveLength(1);
    expect(page2.body.data.auditEvents.pageInfo.hasNextPage).toBe(false);
    const ownKeys = new Set(
      (await t.database.db.selectFrom('api_keys').select('id').where('account_id', '=', owner.accountId).execute()).map((r) => r.id),
    );
    const targets = [...page1.body.data.auditEvents.edges, ...page2.body.data.auditEvents.edges].map((e: { node: AuditNode }) => e.node.targetId);
    expect(targets.every((id) => id !== null && ownKeys.has(id))).toBe(true);
  });

  it('needs a session', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    expect((await t.gql(AUDIT, { key: key.secret })).body.errors[0].extensions.code).toBe('FORBIDDEN');
    expect((await t.gql(AUDIT)).body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });
});
