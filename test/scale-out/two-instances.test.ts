// Scale-out: two Keyscope processes (src/main.ts) on one PostgreSQL schema, each on its own
// port as behind a load balancer. Whatever one instance does, the other sees at once:
// sessions, revocations, the credit balance, rate limits; and background work (job
// completion, webhook delivery) is done once, by one of them.
import { readFileSync, readdirSync } from 'node:fs';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../src/db/connect.ts';
import { grantCredits } from '../../src/credits/credits.service.ts';
import { systemClock } from '../../src/deps.ts';
import { databaseUrlOf } from '../database-url.ts';
import { CookieJar, PASSWORD, TEST_SECRET, freshDatabase, testConfig, uniqueEmail } from '../harness.ts';
import { type KeyscopeProcess, startKeyscopeProcess } from '../processes.ts';

const PG_URL = process.env.TEST_DATABASE_URL;

interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever the server sent
  body: any;
}

async function gql(
  instance: KeyscopeProcess,
  query: string,
  options: { variables?: Record<string, unknown>; jar?: CookieJar; key?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json' };
  if (options.jar) {
    headers.cookie = options.jar.header();
    headers['x-keyscope-csrf'] = '1';
  }
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  const response = await fetch(instance.graphqlUrl, { method: 'POST', headers, body: JSON.stringify({ query, variables: options.variables }) });
  options.jar?.store(response.headers);
  return { status: response.status, headers: response.headers, body: await response.json() };
}

interface Received {
  headers: IncomingHttpHeaders;
  body: { type: string; data: { job?: { id: string; status: string } } };
}

/** A webhook endpoint that records every delivery and answers 204. */
async function webhookReceiver(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(body) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The verification token from the mail the instances wrote (quoted-printable .eml files). */
function verificationToken(mailDir: string, email: string): string {
  for (const file of readdirSync(mailDir)) {
    const text = readFileSync(path.join(mailDir, file), 'utf8').replace(/=\r?\n/g, '');
    if (!text.includes(`To: ${email}`)) continue;
    const token = /token(?:=3D|=)([A-Za-z0-9_-]+)/.exec(text)?.[1];
    if (token) return token;
  }
  throw new Error(`no verification mail to ${email}`);
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

describe.skipIf(!PG_URL)('two Keyscope processes on one PostgreSQL', () => {
  let database: DatabaseHandle;
  let drop: () => Promise<void>;
  let mailDir: string;
  let receiver: Awaited<ReturnType<typeof webhookReceiver>>;
  let a: KeyscopeProcess;
  let b: KeyscopeProcess;

  beforeAll(async () => {
    // A fresh schema, migrated once, as `npm run keyscope -- migrate` would before a deploy.
    const config = testConfig();
    ({ database, drop } = await freshDatabase(config));
    mailDir = path.join(config.dataDir, 'mail');
    receiver = await webhookReceiver();
    const env = {
      NODE_ENV: 'test',
      DATABASE_URL: await databaseUrlOf({ config, database }),
      // Every instance shares the secret: keys hashed by one are recognised by the other.
      KEYSCOPE_SECRET: TEST_SECRET,
      KEYSCOPE_DATA_DIR: config.dataDir,
      MAIL_DIR: mailDir,
      KEYSCOPE_ALLOW_PRIVATE_WEBHOOKS: '1',
      KEYSCOPE_LOG_REQUESTS: '0',
    };
    [a, b] = await Promise.all([startKeyscopeProcess(env), startKeyscopeProcess(env)]);
  }, 60_000);

  afterAll(async () => {
    const codes = await Promise.all([a?.stop(), b?.stop()]);
    await receiver?.close();
    await database?.close();
    await drop?.();
    // Both shut down cleanly (0), having finished their workers.
    expect(codes).toEqual([0, 0]);
  }, 30_000);

  /** An account registered (and its email verified) through the given instances. */
  async function account(registerOn: KeyscopeProcess, verifyOn: KeyscopeProcess) {
    const email = uniqueEmail();
    const jar = new CookieJar();
    const reg = await gql(registerOn, 'mutation($input: CredentialsInput!) { register(input: $input) { account { id } } }', {
      variables: { input: { email, password: PASSWORD } },
      jar,
    });
    const accountId: string = reg.body.data.register.account.id;
    const verified = await gql(verifyOn, 'mutation($t: String!) { verifyEmail(input: { token: $t }) { account { emailVerified } } }', {
      variables: { t: verificationToken(mailDir, email) },
    });
    expect(verified.body.data.verifyEmail.account.emailVerified).toBe(true);
    return { email, jar, accountId };
  }

  async function createKey(on: KeyscopeProcess, jar: CookieJar, input: Record<string, unknown>): Promise<{ id: string; secret: string }> {
    const res = await gql(on, 'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { apiKey { id } secret } }', {
      variables: { input: { name: 'scale-out', scope: 'READ_WRITE', environment: 'TEST', ...input } },
      jar,
    });
    return { id: res.body.data.createApiKey.apiKey.id, secret: res.body.data.createApiKey.secret };
  }

  it('serves one session on both: signed up on one, used and refreshed on the other', async () => {
    const owner = await account(a, b);
    const onB = await gql(b, '{ viewer { authMethod account { id } } }', { jar: owner.jar });
    expect(onB.body.data.viewer).toEqual({ authMethod: 'SESSION', account: { id: owner.accountId } });
    const before = owner.jar.header();
    const refreshed = await gql(b, 'mutation { refreshSession { account { id } } }', { jar: owner.jar });
    expect(refreshed.body.data.refreshSession.account.id).toBe(owner.accountId);
    expect(owner.jar.header()).not.toBe(before);
    const onA = await gql(a, '{ viewer { authMethod account { id } } }', { jar: owner.jar });
    expect(onA.body.data.viewer).toEqual({ authMethod: 'SESSION', account: { id: owner.accountId } });
  });

  it('refuses, on the next request to the other instance, a key revoked through one', async () => {
    const owner = await account(a, a);
    // Several rounds: each instance caches verified keys, and a revocation answers only once
    // the change's announcement has gone out to every instance.
    for (let round = 0; round < 5; round++) {
      const key = await createKey(a, owner.jar, {});
      for (const instance of [b, a, b]) {
        expect((await gql(instance, '{ viewer { authMethod } }', { key: key.secret })).body.data.viewer.authMethod).toBe('API_KEY');
      }
      const revoked = await gql(a, 'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { revokedAt } } }', {
        variables: { id: key.id },
        jar: owner.jar,
      });
      expect(revoked.body.data.revokeApiKey.apiKey.revokedAt).not.toBeNull();
      const refused = await gql(b, '{ viewer { authMethod } }', { key: key.secret });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer');
      expect(refused.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it('never overdraws: concurrent metered mutations spread over both instances', async () => {
    const owner = await account(b, a);
    const key = await createKey(a, owner.jar, { environment: 'LIVE' });
    await grantCredits({ db: database.db, clock: systemClock }, { email: owner.email, amount: 5, reason: 'scale-out test' });
    const attempts = Array.from({ length: 12 }, (_, i) =>
      gql(i % 2 === 0 ? a : b, 'mutation { createJob(input: { kind: STAGE }) { job { id charged } } }', { key: key.secret }),
    );
    const answers = await Promise.all(attempts);
    const charged = answers.filter((r) => r.body.data?.createJob?.job?.charged === 1);
    const refused = answers.filter((r) => r.body.errors?.[0]?.extensions?.code === 'PAYMENT_REQUIRED');
    expect(charged).toHaveLength(5);
    expect(refused).toHaveLength(7);

    const balance = await database.db.selectFrom('accounts').select('credit_balance').where('id', '=', owner.accountId).executeTakeFirstOrThrow();
    expect(balance.credit_balance).toBe(0);
    const ledger = await database.db
      .selectFrom('credit_ledger')
      .select([sql<number>`sum(amount)`.as('sum'), sql<number>`count(*)`.as('entries')])
      .where('account_id', '=', owner.accountId)
      .executeTakeFirstOrThrow();
    expect(Number(ledger.sum)).toBe(0);
    expect(Number(ledger.entries)).toBe(6);
    const jobs = await database.db.selectFrom('jobs').select('id').where('account_id', '=', owner.accountId).execute();
    expect(jobs).toHaveLength(5);
  });

  it("shares a key's rate limit between the instances", async () => {
    const owner = await account(a, b);
    const key = await createKey(b, owner.jar, { rateLimit: { requests: 4, windowSeconds: 60 } });
    const statuses: number[] = [];
    let lastRefusal: Answer | undefined;
    for (let i = 0; i < 8; i++) {
      const answer = await gql(i % 2 === 0 ? a : b, '{ viewer { authMethod } }', { key: key.secret });
      statuses.push(answer.status);
      if (answer.status === 429) lastRefusal = answer;
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429, 429, 429]);
    expect(Number(lastRefusal?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(lastRefusal?.body.errors[0].extensions.code).toBe('RATE_LIMITED');
  });

  it('delivers each webhook once, though both instances run the delivery worker', async () => {
    const owner = await account(b, b);
    const key = await createKey(b, owner.jar, {});
    const set = await gql(a, 'mutation($input: SetWebhookInput!) { setWebhook(input: $input) { webhook { id } signingSecret } }', {
      variables: { input: { keyId: key.id, url: receiver.url, events: ['job.completed'] } },
      jar: owner.jar,
    });
    expect(set.body.data.setWebhook.signingSecret).toMatch(/^whsec_/);

    const created = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        gql(i % 2 === 0 ? a : b, 'mutation { createJob(input: { kind: ENHANCE }) { job { id } } }', { key: key.secret }),
      ),
    );
    const jobIds = created.map((r) => r.body.data.createJob.job.id as string).sort();
    const forThisKey = () => receiver.received.filter((r) => jobIds.includes(r.body.data.job?.id ?? ''));
    await until(() => forThisKey().length >= jobIds.length, 20_000);
    // Give a duplicate, if any, the time of a few worker polls to show up.
    await new Promise((r) => setTimeout(r, 1_500));

    const deliveries = forThisKey();
    expect(deliveries.map((d) => d.body.type)).toEqual(jobIds.map(() => 'job.completed'));
    const messageIds = deliveries.map((d) => d.headers['webhook-id']);
    expect(new Set(messageIds).size).toBe(jobIds.length);
    expect(deliveries.map((d) => d.body.data.job?.id).sort()).toEqual(jobIds);
    expect(deliveries.every((d) => d.body.data.job?.status === 'COMPLETED')).toBe(true);

    const rows = await database.db.selectFrom('webhook_deliveries').select(['status', 'attempt_count']).where('key_id', '=', key.id).execute();
    expect(rows).toHaveLength(jobIds.length);
    expect(rows.every((r) => r.status === 'SUCCEEDED' && r.attempt_count === 1)).toBe(true);
  });
});
