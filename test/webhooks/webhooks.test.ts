// Webhook configuration through the API: secrets shown once and stored encrypted, events
// and URLs validated (SSRF rules with private webhooks NOT allowed), audit events, and the
// delivery list. No workers run here: deliveries stay PENDING.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { TEST_SECRET, type TestApp, createKey, createTestApp, signUp } from '../harness.ts';
import { decryptSigningSecret } from '../../src/webhooks/webhook-secrets.ts';
import { ALL_EVENTS, DELETE_WEBHOOK, DELIVERIES, ROTATE_SECRET, SEND_TEST, SET_WEBHOOK, deliveries, sendTest, setWebhook } from './operations.ts';

// An address literal needs no DNS; 93.184.215.14 is a public unicast address.
const PUBLIC_URL = 'https://93.184.215.14/hooks/keyscope';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

/** The account's webhook.* audit actions, oldest first; none may carry a secret. */
async function auditActions(accountId: string): Promise<string[]> {
  const rows = await t.database.db.selectFrom('audit_events').select(['action', 'metadata']).where('account_id', '=', accountId).orderBy('id').execute();
  for (const row of rows) expect(row.metadata).not.toMatch(/whsec_/);
  return rows.map((r) => r.action).filter((a) => a.startsWith('webhook.'));
}

describe('setWebhook', () => {
  it('creates the webhook and returns a whsec_ secret once; only an encrypted form is stored', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    const { webhook, signingSecret } = await setWebhook(t, owner, { keyId: key.id, url: PUBLIC_URL, events: ['key.revoked', 'job.completed', 'key.revoked'] });
    expect(webhook).toMatchObject({ url: PUBLIC_URL, events: ['job.completed', 'key.revoked'], enabled: true, disabledReason: null });
    expect(webhook.id).toMatch(/^whk_/);
    expect(signingSecret).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    const raw = Buffer.from((signingSecret ?? '').slice('whsec_'.length), 'base64');
    expect(raw.length).toBeGreaterThanOrEqual(24);
    expect(raw.length).toBeLessThanOrEqual(64);
    // The standardwebhooks library accepts it as a key.
    expect(() => new StandardWebhook(signingSecret ?? '')).not.toThrow();

    const row = await t.database.db.selectFrom('webhooks').selectAll().where('id', '=', webhook.id).executeTakeFirstOrThrow();
    const bare = (signingSecret ?? '').slice('whsec_'.length);
    expect(JSON.stringify(row)).not.toContain(bare);
    expect(JSON.stringify(row)).not.toContain(raw.toString('hex'));
    expect(decryptSigningSecret(TEST_SECRET, webhook.id, row.secret_enc)).toBe(signingSecret);
    // Bound to its webhook: the ciphertext does not open under another id, nor another server secret.
    expect(() => decryptSigningSecret(TEST_SECRET, 'whk_other', row.secret_enc)).toThrow();
    expect(() => decryptSigningSecret(`${TEST_SECRET}x`, webhook.id, row.secret_enc)).toThrow();

    const viewed = await t.gql('query($id: ID!) { apiKey(id: $id) { webhook { id url events enabled } } }', { variables: { id: key.id }, session: owner.jar });
    expect(viewed.body.data.apiKey.webhook).toEqual({ id: webhook.id, url: PUBLIC_URL, events: ['job.completed', 'key.revoked'], enabled: true });
    expect(JSON.stringify(viewed.body)).not.toMatch(/whsec_/);
    expect(await auditActions(owner.accountId)).toContain('webhook.set');
  });

  it('changes URL, events and state of an existing webhook without touching its secret', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    const first = await setWebhook(t, owner, { keyId: key.id, url: PUBLIC_URL });
    const before = await t.database.db.selectFrom('webhooks').select('secret_enc').where('id', '=', first.webhook.id).executeTakeFirstOrThrow();
    await t.database.db.updateTable('webhooks').set({ enabled: 0, disabled_reason: 'The receiver answered 410 Gone.' }).where('id', '=', first.webhook.id).execute();

    const off = await setWebhook(t, owner, { keyId: key.id, url: 'https://93.184.215.14/v2', events: ['credits.low'], enabled: false });
    expect(off.signingSecret).toBeNull();
    expect(off.webhook).toMatchObject({ id: first.webhook.id, url: 'https://93.184.215.14/v2', events: ['credits.low'], enabled: false, disabledReason: 'The receiver answered 410 Gone.' });

    const on = await setWebhook(t, owner, { keyId: key.id, url: 'https://93.184.215.14/v2', events: ['credits.low'] });
    expect(on.webhook).toMatchObject({ enabled: true, disabledReason: null });
    const after = await t.database.db.selectFrom('webhooks').select('secret_enc').where('id', '=', first.webhook.id).executeTakeFirstOrThrow();
    expect(after.secret_enc).toBe(before.secret_enc);
  });

  it('refuses an empty or unknown event list', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    for (const events of [[], ['job.completed', 'job.exploded'], ['webhook.test']]) {
      const res = await t.gql(SET_WEBHOOK, { variables: { input: { keyId: key.id, url: PUBLIC_URL, events } }, session: owner.jar });
      expect(res.body.data.setWebhook).toBeNull();
      expect(res.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'events' });
    }
  });

  it.each([
    ['http://93.184.215.14/', 'plain http'],
    ['ftp://93.184.215.14/', 'another scheme'],
    ['javascript:alert(1)', 'javascript'],
    ['file:///etc/passwd', 'file'],
    ['not a url', 'garbage'],
    ['https://user:pass@93.184.215.14/', 'credentials in the URL'],
    ['https://127.0.0.1/', 'loopback'],
    ['https://[::1]/', 'IPv6 loopback'],
    ['https://[::ffff:127.0.0.1]/', 'IPv4-mapped loopback'],
    ['http://[::ffff:127.0.0.1]', 'IPv4-mapped loopback over http'],
    ['https://[::ffff:169.254.169.254]/', 'IPv4-mapped metadata'],
    ['https://2130706433/', 'decimal loopback'],
    ['http://2130706433', 'decimal loopback over http'],
    ['https://0x7f.1/', 'hex loopback'],
    ['https://169.254.169.254/latest/meta-data/', 'cloud metadata'],
    ['http://169.254.169.254', 'cloud metadata over http'],
    ['https://[fd00:ec2::254]/', 'IPv6 metadata (unique local)'],
    ['https://10.0.0.1/', 'private 10/8'],
    ['https://172.16.5.4/', 'private 172.16/12'],
    ['https://192.168.1.1/', 'private 192.168/16'],
    ['https://100.64.0.1/', 'CGNAT'],
    ['https://224.0.0.1/', 'multicast'],
    ['https://0.0.0.0/', 'unspecified'],
    ['https://[::]/', 'IPv6 unspecified'],
    ['https://[fe80::1]/', 'IPv6 link-local'],
    ['https://[64:ff9b::7f00:1]/', 'NAT64 of loopback'],
    ['http://localhost/', 'localhost over http'],
    ['https://localhost/', 'localhost (a name resolving to 127.0.0.1)'],
    ['https://LOCALHOST./', 'localhost, upper case with a trailing dot'],
    ['https://name-that-does-not-resolve.invalid/', 'an unresolvable name'],
  ])('refuses %s (%s) with BAD_USER_INPUT and stores nothing', async (url) => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    const res = await t.gql(SET_WEBHOOK, { variables: { input: { keyId: key.id, url, events: ALL_EVENTS } }, session: owner.jar });
    expect(res.body.data.setWebhook).toBeNull();
    expect(res.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'url' });
    const rows = await t.database.db.selectFrom('webhooks').select('id').where('key_id', '=', key.id).execute();
    expect(rows).toHaveLength(0);
  });

  it('concurrent first setWebhook calls on one key make one webhook and one secret, never an internal error', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { environment: 'TEST' });
    const results = await Promise.all(
      Array.from({ length: 6 }, () => t.gql(SET_WEBHOOK, { variables: { input: { keyId: key.id, url: PUBLIC_URL, events: ALL_EVENTS } }, session: owner.jar })),
    );
    const secrets = results.map((r) => r.body.data?.setWebhook?.signingSecret).filter(Boolean);
    expect(secrets).toHaveLength(1);
    for (const r of results) {
      if (r.body.errors) expect(r.body.errors[0].extensions.code).toBe('CONFLICT');
    }
    const rows = await t.database.db.selectFrom('webhooks').select('id').where('key_id', '=', key.id).execute();
    expect(rows).toHaveLength(1);
  });

  it('refuses a revoked key with CONFLICT and an unknown key with NOT_FOUND', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    await t.gql('mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }', { variables: { id: key.id }, session: owner.jar });
    const revoked = await t.gql(SET_WEBHOOK, { variables: { input: { keyId: key.id, url: PUBLIC_URL, events: ALL_EVENTS } }, session: owner.jar });
    expect(revoked.body.errors[0].extensions.code).toBe('CONFLICT');
    const unknown = await t.gql(SET_WEBHOOK, { variables: { input: { keyId: 'key_000000000nothing', url: PUBLIC_URL, events: ALL_EVENTS } }, session: owner.jar });
    expect(unknown.body.errors[0].extensions.code).toBe('NOT_FOUND');
  });
});

describe('rotateWebhookSecret', () => {
  it('issues a new secret, keeps the previous one for the overlap only, and audits it', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    const created = await setWebhook(t, owner, { keyId: key.id, url: PUBLIC_URL });
    const res = await t.gql(ROTATE_SECRET, { variables: { input: { keyId: key.id, overlapSeconds: 3600 } }, session: owner.jar });
    const rotated = res.body.data.rotateWebhookSecret;
    expect(rotated.signingSecret).toMatch(/^whsec_/);
    expect(rotated.signingSecret).not.toBe(created.signingSecret);
    expect(Date.parse(rotated.webhook.previousSecretExpiresAt) - Date.now()).toBeGreaterThan(3500_000);
    const row = await t.database.db.selectFrom('webhooks').selectAll().where('id', '=', created.webhook.id).executeTakeFirstOrThrow();
    expect(decryptSigningSecret(TEST_SECRET, row.id, row.secret_enc)).toBe(rotated.signingSecret);
    expect(decryptSigningSecret(TEST_SECRET, row.id, row.previous_secret_enc ?? '')).toBe(created.signingSecret);

    const again = await t.gql(ROTATE_SECRET, { variables: { input: { keyId: key.id } }, session: owner.jar });
    expect(again.body.data.rotateWebhookSecret.webhook.previousSecretExpiresAt).toBeNull();
    const cleared = await t.database.db.selectFrom('webhooks').selectAll().where('id', '=', created.webhook.id).executeTakeFirstOrThrow();
    expect(cleared.previous_secret_enc).toBeNull();
    expect(await auditActions(owner.accountId)).toEqual(['webhook.set', 'webhook.secret_rotated', 'webhook.secret_rotated']);
  });

  it('refuses an overlap outside 0..7 days, and a key without a webhook', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    const none = await t.gql(ROTATE_SECRET, { variables: { input: { keyId: key.id } }, session: owner.jar });
    expect(none.body.errors[0].extensions.code).toBe('NOT_FOUND');
    await setWebhook(t, owner, { keyId: key.id, url: PUBLIC_URL });
    for (const overlapSeconds of [-1, 7 * 86400 + 1]) {
      const res = await t.gql(ROTATE_SECRET, { variables: { input: { keyId: key.id, overlapSeconds } }, session: owner.jar });
      expect(res.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'overlapSeconds' });
    }
  });
});

describe('deleteWebhook and sendTestWebhook', () => {
  it('deletes the webhook (audited) and keeps its delivery history', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    const { webhook } = await setWebhook(t, owner, { keyId: key.id, url: PUBLIC_URL });
    const queued = await sendTest(t, owner, key.id);
    expect(queued.messageId).toMatch(/^msg_/);
    const res = await t.gql(DELETE_WEBHOOK, { variables: { input: { keyId: key.id } }, session: owner.jar });
    expect(res.body.data.deleteWebhook).toEqual({ deletedWebhookId: webhook.id, keyId: key.id });
    const viewed = await t.gql('query($id: ID!) { apiKey(id: $id) { webhook { id } } }', { variables: { id: key.id }, session: owner.jar });
    expect(viewed.body.data.apiKey.webhook).toBeNull();
    expect((await deliveries(t, owner, key.id)).map((d) => d.id)).toEqual([queued.id]);
    const again = await t.gql(DELETE_WEBHOOK, { variables: { input: { keyId: key.id } }, session: owner.jar });
    expect(again.body.errors[0].extensions.code).toBe('NOT_FOUND');
    expect(await auditActions(owner.accountId)).toEqual(['webhook.set', 'webhook.deleted']);
  });

  it('queues a webhook.test delivery even while the webhook is disabled, listed with its payload', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { environment: 'TEST' });
    await setWebhook(t, owner, { keyId: key.id, url: PUBLIC_URL, events: ['job.failed'], enabled: false });
    const queued = await sendTest(t, owner, key.id);
    const [listed] = await deliveries(t, owner, key.id);
    expect(listed).toMatchObject({
      id: queued.id,
      messageId: queued.messageId,
      eventType: 'webhook.test',
      environment: 'TEST',
      status: 'PENDING',
      attemptCount: 0,
      attempts: [],
      failureReason: null,
      payload: { type: 'webhook.test', data: { keyId: key.id } },
    });
    expect(listed.nextAttemptAt).not.toBeNull();
  });

  it('pages deliveries newest first', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    await setWebhook(t, owner, { keyId: key.id, url: PUBLIC_URL });
    const ids = [];
    for (let i = 0; i < 3; i += 1) ids.push((await sendTest(t, owner, key.id)).id);
    const first = await t.gql(DELIVERIES, { variables: { keyId: key.id, first: 2 }, session: owner.jar });
    const page = first.body.data.webhookDeliveries;
    expect(page.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([ids[2], ids[1]]);
    expect(page.pageInfo.hasNextPage).toBe(true);
    const second = await t.gql(DELIVERIES, { variables: { keyId: key.id, first: 2, after: page.pageInfo.endCursor }, session: owner.jar });
    expect(second.body.data.webhookDeliveries.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([ids[0]]);
  });
});

describe('security', () => {
  it("answers NOT_FOUND for another account's key on every webhook operation", async () => {
    const owner = await signUp(t);
    const intruder = await signUp(t);
    const key = await createKey(t, owner);
    await setWebhook(t, owner, { keyId: key.id, url: PUBLIC_URL });
    await sendTest(t, owner, key.id);
    const attempts = [
      [SET_WEBHOOK, { input: { keyId: key.id, url: PUBLIC_URL, events: ALL_EVENTS } }, 'setWebhook'],
      [DELETE_WEBHOOK, { input: { keyId: key.id } }, 'deleteWebhook'],
      [ROTATE_SECRET, { input: { keyId: key.id, overlapSeconds: 60 } }, 'rotateWebhookSecret'],
      [SEND_TEST, { input: { keyId: key.id } }, 'sendTestWebhook'],
      [DELIVERIES, { keyId: key.id }, 'webhookDeliveries'],
    ] as const;
    for (const [query, variables, field] of attempts) {
      const res = await t.gql(query, { variables, session: intruder.jar });
      expect(res.body.data[field], field).toBeNull();
      expect(res.body.errors[0].extensions.code, field).toBe('NOT_FOUND');
      expect(JSON.stringify(res.body)).not.toMatch(/whsec_|msg_/);
    }
    // Nothing changed for the owner.
    const [listed] = await deliveries(t, owner, key.id);
    expect(listed.eventType).toBe('webhook.test');
    const rows = await t.database.db.selectFrom('audit_events').select('action').where('account_id', '=', intruder.accountId).execute();
    expect(rows.map((r) => r.action)).not.toContain('webhook.set');
  });

  it('refuses API keys (FORBIDDEN) and anonymous callers (UNAUTHENTICATED)', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    const withKey = await t.gql(SET_WEBHOOK, { variables: { input: { keyId: key.id, url: PUBLIC_URL, events: ALL_EVENTS } }, key: key.secret });
    expect(withKey.body.errors[0].extensions.code).toBe('FORBIDDEN');
    const listWithKey = await t.gql(DELIVERIES, { variables: { keyId: key.id }, key: key.secret });
    expect(listWithKey.body.errors[0].extensions.code).toBe('FORBIDDEN');
    const anonymous = await t.gql(DELIVERIES, { variables: { keyId: key.id } });
    expect(anonymous.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('refuses a cookie-authenticated webhook mutation without the CSRF header', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    const res = await t.gql(SET_WEBHOOK, { variables: { input: { keyId: key.id, url: PUBLIC_URL, events: ALL_EVENTS } }, session: owner.jar, csrf: false });
    expect(res.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'csrf' });
  });
});
