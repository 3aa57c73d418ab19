// Load while keys change: many keys call at once over a real socket while some are revoked
// and some rolled. No request sent after a revocation (or after a roll without grace)
// answered gets through with the old secret, and no credit is lost or invented. Bounded in
// count and time; throughput and memory are the benchmark's business, not this test's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLedger, grantCredits } from '../../src/credits/credits.service.ts';
import { type Signup, type TestApp, createKey, createTestApp, signUp } from '../harness.ts';
import { type Listening, listen } from '../listen.ts';

const KEYS = 24;
const WORKERS = 16;
const DURATION_MS = 4_000;
const MAX_REQUESTS = 6_000;

let t: TestApp;
let server: Listening;
let owner: Signup;
beforeAll(async () => {
  t = await createTestApp();
  server = await listen(t.app);
  owner = await signUp(t);
  await grantCredits(t.app.deps, { email: owner.email, amount: 1_000_000, reason: 'load test' });
});
afterAll(async () => {
  await server.close();
  await t.close();
});

interface Key {
  id: string;
  secret: string;
  /** performance.now() when the revocation (or grace-0 roll) of this secret answered. */
  deadSince: number | null;
}

async function call(secret: string, query: string): Promise<{ status: number; charged: number }> {
  const res = await fetch(server.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
    body: JSON.stringify({ query }),
  });
  const body = (await res.json()) as { extensions?: { credits?: { charged?: number } } };
  return { status: res.status, charged: body.extensions?.credits?.charged ?? 0 };
}

describe('keys revoked and rolled under load', () => {
  it('never admits a dead secret after its revocation or roll answered, and loses no credit', async () => {
    const keys: Key[] = [];
    for (let i = 0; i < KEYS; i++) {
      const key = await createKey(t, owner, { scope: 'READ_WRITE', environment: 'LIVE', rateLimit: { requests: 100_000, windowSeconds: 1 } });
      keys.push({ ...key, deadSince: null });
    }
    const admittedAfterDeath: string[] = [];
    let requests = 0;
    let charged = 0;
    const stopAt = performance.now() + DURATION_MS;

    const worker = async (n: number) => {
      while (performance.now() < stopAt && requests < MAX_REQUESTS) {
        requests += 1;
        const key = keys[(n + requests) % keys.length] as Key;
        const sentAt = performance.now();
        const query = requests % 4 === 0 ? 'mutation { createJob(input: { kind: STAGE }) { job { id } } }' : '{ viewer { authMethod } }';
        const result = await call(key.secret, query);
        charged += result.charged;
        if (result.status === 200 && key.deadSince !== null && sentAt > key.deadSince) admittedAfterDeath.push(key.id);
      }
    };

    const changes = (async () => {
      // A third of the keys are revoked, a third rolled without grace, one at a time, mid-load.
      for (let i = 0; i < KEYS && performance.now() < stopAt - 500; i += 3) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const revoked = keys[i] as Key;
        await t.gql('mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }', { variables: { id: revoked.id }, session: owner.jar });
        revoked.deadSince = performance.now();
        const rolled = keys[i + 1] as Key;
        const roll = await t.gql('mutation($id: ID!) { rollApiKey(input: { id: $id, gracePeriodSeconds: 0 }) { secret } }', {
          variables: { id: rolled.id },
          session: owner.jar,
        });
        // The old secret is dead from now on; later requests of this slot use the new one.
        keys.push({ id: rolled.id, secret: rolled.secret, deadSince: performance.now() });
        rolled.secret = roll.body.data.rollApiKey.secret;
      }
    })();

    await Promise.all([...Array.from({ length: WORKERS }, (_, n) => worker(n)), changes]);

    expect(requests).toBeGreaterThan(200);
    expect(admittedAfterDeath).toEqual([]);
    // Every charge the clients were told about is in the ledger, and balance = ledger sum.
    const account = await t.database.db.selectFrom('accounts').select('credit_balance').where('id', '=', owner.accountId).executeTakeFirstOrThrow();
    expect(account.credit_balance).toBe(1_000_000 - charged);
    expect((await checkLedger(t.app.deps)).ok).toBe(true);
  });
});
