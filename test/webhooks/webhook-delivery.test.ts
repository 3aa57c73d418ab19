// Delivery to a real HTTP receiver on loopback (private webhooks allowed, as in development):
// Standard Webhooks signatures, retries with the same webhook-id, 410 and exhaustion,
// redirects, timeouts, restarts and expired leases, rotation overlaps, key.expiring.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { createApp } from '../../src/app.ts';
import { enqueueWebhookEvent } from '../../src/webhooks/webhook-outbox.ts';
import { type Worker, startWorkers } from '../../src/workers.ts';
import { type Signup, type TestApp, TestClock, createKey, createTestApp, signUp } from '../harness.ts';
import { ROTATE_SECRET, deliveries, eventually, sendTest, setWebhook } from './operations.ts';
import { type Receiver, answer, startReceiver } from './receiver.ts';

const PRIVATE = { KEYSCOPE_ALLOW_PRIVATE_WEBHOOKS: '1' };
const FAST = { pollIntervalMs: 50, webhookRetrySchedule: [50, 100, 200], keyExpiringScanIntervalMs: 50 };

// Everything written to stdout/stderr while this file runs, to prove no secret is logged.
const output: string[] = [];
const secretsSeen: string[] = [];
const originalWrites = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };

let t: TestApp;
beforeAll(async () => {
  // Request logs (switched on below) are kept, not echoed, to keep the test output readable.
  process.stdout.write = ((chunk: string | Uint8Array) => {
    output.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    output.push(String(chunk));
    return originalWrites.err(chunk, ...rest);
  }) as typeof process.stderr.write;
  t = await createTestApp({ ...PRIVATE, KEYSCOPE_LOG_REQUESTS: '1' }, { workers: FAST });
});
afterAll(async () => {
  await t.close();
  process.stdout.write = originalWrites.out;
  process.stderr.write = originalWrites.err;
});

async function withReceiver(test: (receiver: Receiver) => Promise<void>): Promise<void> {
  const receiver = await startReceiver();
  try {
    await test(receiver);
  } finally {
    await receiver.close();
  }
}

/** A key with a webhook pointing at the receiver; the secret is remembered for the log check. */
async function keyWithWebhook(app: TestApp, receiver: Receiver, events?: string[]): Promise<{ owner: Signup; keyId: string; secret: string }> {
  const owner = await signUp(app);
  const key = await createKey(app, owner);
  const { signingSecret } = await setWebhook(app, owner, { keyId: key.id, url: receiver.url, ...(events ? { events } : {}) });
  if (!signingSecret) throw new Error('no secret');
  secretsSeen.push(signingSecret);
  return { owner, keyId: key.id, secret: signingSecret };
}

async function settled(app: TestApp, owner: Signup, keyId: string, count = 1) {
  return eventually(async () => {
    const list = await deliveries(app, owner, keyId);
    return list.length >= count && list.every((d) => d.status !== 'PENDING') && list;
  });
}

describe('delivery', () => {
  it('POSTs a Standard Webhooks request that the standardwebhooks verifier accepts', async () => {
    await withReceiver(async (receiver) => {
      const { owner, keyId, secret } = await keyWithWebhook(t, receiver);
      const queued = await sendTest(t, owner, keyId);
      const [request] = await receiver.waitFor(1);
      expect(request?.method).toBe('POST');
      expect(request?.path).toBe('/hook');
      expect(request?.headers).toMatchObject({ 'content-type': 'application/json', 'webhook-id': queued.messageId });
      expect(request?.headers['webhook-timestamp']).toMatch(/^\d{10}$/);
      expect(request?.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      const verified = new StandardWebhook(secret).verify(request?.body ?? '', request?.headers ?? {});
      expect(verified).toMatchObject({ type: 'webhook.test', data: { keyId } });
      expect(Object.keys(verified as object).sort()).toEqual(['data', 'timestamp', 'type']);
      // A wrong secret or a changed body does not verify.
      expect(() => new StandardWebhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`).verify(request?.body ?? '', request?.headers ?? {})).toThrow();
      expect(() => new StandardWebhook(secret).verify(`${request?.body} `, request?.headers ?? {})).toThrow();

      const [delivery] = await settled(t, owner, keyId);
      expect(delivery).toMatchObject({ id: queued.id, status: 'SUCCEEDED', attemptCount: 1, lastStatusCode: 200, nextAttemptAt: null, failureReason: null });
      expect(delivery.attempts).toEqual([
        expect.objectContaining({ attempt: 1, statusCode: 200, errorClass: null, responseExcerpt: 'ok', nextAttemptAt: null }),
      ]);
    });
  });

  it('sends key.revoked when the key is revoked, and nothing for an event the webhook does not subscribe to', async () => {
    await withReceiver(async (receiver) => {
      const subscribed = await keyWithWebhook(t, receiver, ['key.revoked']);
      const other = await keyWithWebhook(t, receiver, ['job.completed']);
      for (const { owner, keyId } of [subscribed, other]) {
        await t.gql('mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }', { variables: { id: keyId }, session: owner.jar });
      }
      const [request] = await receiver.waitFor(1);
      const event = new StandardWebhook(subscribed.secret).verify(request?.body ?? '', request?.headers ?? {});
      expect(event).toMatchObject({ type: 'key.revoked', data: { keyId: subscribed.keyId } });
      expect(await deliveries(t, other.owner, other.keyId)).toEqual([]);
    });
  });

  it('retries a 500 with back-off and the same webhook-id, keeping a sanitised excerpt of each answer', async () => {
    await withReceiver(async (receiver) => {
      const { owner, keyId, secret } = await keyWithWebhook(t, receiver);
      let calls = 0;
      receiver.respond = (request, res) => {
        calls += 1;
        if (calls <= 2) answer(500, `Error:\u0000\u001b[31m broken\u202e thing ${'x'.repeat(5000)}`)(request, res);
        else answer(204)(request, res);
      };
      const queued = await sendTest(t, owner, keyId);
      const requests = await receiver.waitFor(3);
      expect(new Set(requests.map((r) => r.headers['webhook-id']))).toEqual(new Set([queued.messageId]));
      for (const request of requests) expect(() => new StandardWebhook(secret).verify(request.body, request.headers)).not.toThrow();
      expect(new Set(requests.map((r) => r.body)).size).toBe(1);

      const [delivery] = await settled(t, owner, keyId);
      expect(delivery).toMatchObject({ status: 'SUCCEEDED', attemptCount: 3, lastStatusCode: 204 });
      const [first, second, third] = delivery.attempts;
      expect(first).toMatchObject({ attempt: 1, statusCode: 500, errorClass: 'HTTP_STATUS' });
      expect(first.responseExcerpt.length).toBeLessThanOrEqual(200);
      expect(first.responseExcerpt).toMatch(/^Error: \[31m broken thing x+$/);
      expect(first.nextAttemptAt).not.toBeNull();
      expect(second).toMatchObject({ attempt: 2, statusCode: 500, errorClass: 'HTTP_STATUS' });
      expect(third).toMatchObject({ attempt: 3, statusCode: 204, errorClass: null, responseExcerpt: null, nextAttemptAt: null });
      // Back-off: the schedule's 50 ms and 100 ms, give or take 20 %.
      expect((requests[1]?.at ?? 0) - (requests[0]?.at ?? 0)).toBeGreaterThanOrEqual(35);
      expect((requests[2]?.at ?? 0) - (requests[1]?.at ?? 0)).toBeGreaterThanOrEqual(75);
    });
  });

  it('disables the webhook at once on 410, audited and shown', async () => {
    await withReceiver(async (receiver) => {
      receiver.respond = answer(410, 'gone');
      const { owner, keyId } = await keyWithWebhook(t, receiver);
      await sendTest(t, owner, keyId);
      const [delivery] = await settled(t, owner, keyId);
      expect(delivery).toMatchObject({ status: 'FAILED', failureReason: 'GONE', attemptCount: 1, lastStatusCode: 410 });
      const viewed = await t.gql('query($id: ID!) { apiKey(id: $id) { webhook { enabled disabledReason } } }', { variables: { id: keyId }, session: owner.jar });
      expect(viewed.body.data.apiKey.webhook).toEqual({ enabled: false, disabledReason: 'The receiver answered 410 Gone.' });
      const audit = await t.database.db.selectFrom('audit_events').selectAll().where('account_id', '=', owner.accountId).where('action', '=', 'webhook.disabled').execute();
      expect(audit).toHaveLength(1);
      expect(audit[0]?.actor_type).toBe('system');
      expect(receiver.received).toHaveLength(1);
    });
  });

  it('gives up after the whole schedule, then disables the webhook and says why', async () => {
    await withReceiver(async (receiver) => {
      receiver.respond = answer(503, 'busy');
      const { owner, keyId } = await keyWithWebhook(t, receiver);
      await sendTest(t, owner, keyId);
      const [delivery] = await settled(t, owner, keyId);
      // One attempt plus one per delay in the schedule.
      expect(delivery).toMatchObject({ status: 'FAILED', failureReason: 'RETRIES_EXHAUSTED', attemptCount: 4, nextAttemptAt: null });
      expect(delivery.attempts.map((a: { statusCode: number }) => a.statusCode)).toEqual([503, 503, 503, 503]);
      expect(delivery.attempts.at(-1).nextAttemptAt).toBeNull();
      const viewed = await t.gql('query($id: ID!) { apiKey(id: $id) { webhook { enabled disabledReason } } }', { variables: { id: keyId }, session: owner.jar });
      expect(viewed.body.data.apiKey.webhook.enabled).toBe(false);
      expect(viewed.body.data.apiKey.webhook.disabledReason).toMatch(/whole retry schedule \(4 attempts; last: HTTP 503\)/);
      const audit = await t.database.db.selectFrom('audit_events').select('action').where('account_id', '=', owner.accountId).where('action', '=', 'webhook.disabled').execute();
      expect(audit).toHaveLength(1);
      expect(receiver.received).toHaveLength(4);
    });
  });

  it('counts an unreadable signing secret as a failed attempt (SIGNING_FAILED), so the schedule ends', async () => {
    await withReceiver(async (receiver) => {
      const { owner, keyId } = await keyWithWebhook(t, receiver);
      // As if KEYSCOPE_SECRET had changed: the stored secret no longer decrypts.
      await t.database.db.updateTable('webhooks').set({ secret_enc: 'v1.AAAA.AAAA.AAAA' }).where('key_id', '=', keyId).execute();
      await sendTest(t, owner, keyId);
      const [delivery] = await settled(t, owner, keyId);
      expect(delivery).toMatchObject({ status: 'FAILED', failureReason: 'RETRIES_EXHAUSTED', attemptCount: 4 });
      expect(delivery.attempts.map((a: { errorClass: string }) => a.errorClass)).toEqual(['SIGNING_FAILED', 'SIGNING_FAILED', 'SIGNING_FAILED', 'SIGNING_FAILED']);
      expect(receiver.received).toHaveLength(0);
    });
  });

  it('never follows a redirect: a 3xx is a failed attempt, retried to the same URL', async () => {
    await withReceiver(async (receiver) => {
      let calls = 0;
      receiver.respond = (request, res) => {
        calls += 1;
        if (calls === 1) answer(307, '', { location: `http://127.0.0.1:${receiver.port}/elsewhere` })(request, res);
        else answer(200, 'ok')(request, res);
      };
      const { owner, keyId } = await keyWithWebhook(t, receiver);
      await sendTest(t, owner, keyId);
      const [delivery] = await settled(t, owner, keyId);
      expect(delivery.attempts.map((a: { statusCode: number; errorClass: string | null }) => [a.statusCode, a.errorClass])).toEqual([
        [307, 'REDIRECT'],
        [200, null],
      ]);
      expect(receiver.received.map((r) => r.path)).toEqual(['/hook', '/hook']);
    });
  });

  it('during a rotation overlap signs with both secrets, each verifying on its own', async () => {
    await withReceiver(async (receiver) => {
      const { owner, keyId, secret: oldSecret } = await keyWithWebhook(t, receiver);
      const rotated = await t.gql(ROTATE_SECRET, { variables: { input: { keyId, overlapSeconds: 3600 } }, session: owner.jar });
      const newSecret: string = rotated.body.data.rotateWebhookSecret.signingSecret;
      secretsSeen.push(newSecret);
      await sendTest(t, owner, keyId);
      const [request] = await receiver.waitFor(1);
      const signatures = (request?.headers['webhook-signature'] ?? '').split(' ');
      expect(signatures).toHaveLength(2);
      const only = (signature: string) => ({ ...request?.headers, 'webhook-signature': signature });
      expect(() => new StandardWebhook(newSecret).verify(request?.body ?? '', only(signatures[0] ?? ''))).not.toThrow();
      expect(() => new StandardWebhook(oldSecret).verify(request?.body ?? '', only(signatures[1] ?? ''))).not.toThrow();
      expect(() => new StandardWebhook(oldSecret).verify(request?.body ?? '', only(signatures[0] ?? ''))).toThrow();
      // Receivers that know either secret accept the full header.
      for (const s of [oldSecret, newSecret]) expect(() => new StandardWebhook(s).verify(request?.body ?? '', request?.headers ?? {})).not.toThrow();

      // Rotating without overlap: the new secret alone signs.
      const again = await t.gql(ROTATE_SECRET, { variables: { input: { keyId } }, session: owner.jar });
      const newest: string = again.body.data.rotateWebhookSecret.signingSecret;
      secretsSeen.push(newest);
      await sendTest(t, owner, keyId);
      const [, next] = await receiver.waitFor(2);
      expect(next?.headers['webhook-signature']?.split(' ')).toHaveLength(1);
      expect(() => new StandardWebhook(newest).verify(next?.body ?? '', next?.headers ?? {})).not.toThrow();
      expect(() => new StandardWebhook(newSecret).verify(next?.body ?? '', next?.headers ?? {})).toThrow();
    });
  });

  it('drops pending deliveries of a deleted or disabled webhook without sending them', async () => {
    const app = await createTestApp(PRIVATE);
    let workers: Worker | undefined;
    try {
      await withReceiver(async (receiver) => {
        const deleted = await keyWithWebhook(app, receiver);
        const disabled = await keyWithWebhook(app, receiver, ['job.completed']);
        await sendTest(app, deleted.owner, deleted.keyId);
        await app.gql('mutation($k: ID!) { deleteWebhook(input: { keyId: $k }) { keyId } }', { variables: { k: deleted.keyId }, session: deleted.owner.jar });
        const at = app.clock.now();
        await enqueueWebhookEvent(app.database.db, { accountId: disabled.owner.accountId, keyId: disabled.keyId, environment: 'LIVE', type: 'job.completed', data: { jobId: 'job_x' }, at });
        await app.database.db.updateTable('webhooks').set({ enabled: 0 }).where('key_id', '=', disabled.keyId).execute();
        workers = startWorkers(app.app.deps, FAST);
        const [gone] = await settled(app, deleted.owner, deleted.keyId);
        const [off] = await settled(app, disabled.owner, disabled.keyId);
        expect(gone).toMatchObject({ status: 'FAILED', failureReason: 'WEBHOOK_DELETED', attemptCount: 0, attempts: [] });
        expect(off).toMatchObject({ status: 'FAILED', failureReason: 'WEBHOOK_DISABLED', attemptCount: 0, attempts: [] });
        expect(receiver.received).toHaveLength(0);
      });
    } finally {
      await workers?.stop();
      await app.close();
    }
  });

  it('fails an attempt that gets no answer in time (TIMEOUT) and retries it', async () => {
    const app = await createTestApp(PRIVATE, { workers: { ...FAST, webhookTimeoutMs: 300 } });
    try {
      await withReceiver(async (receiver) => {
        let calls = 0;
        receiver.respond = (request, res) => {
          calls += 1;
          if (calls > 1) answer(200, 'ok')(request, res);
          // The first request is left hanging.
        };
        const { owner, keyId } = await keyWithWebhook(app, receiver);
        await sendTest(app, owner, keyId);
        const [delivery] = await settled(app, owner, keyId);
        const [first, second] = delivery.attempts;
        expect(first).toMatchObject({ statusCode: null, errorClass: 'TIMEOUT' });
        expect(first.durationMs).toBeGreaterThanOrEqual(290);
        expect(first.durationMs).toBeLessThan(5000);
        expect(second).toMatchObject({ statusCode: 200, errorClass: null });
      });
    } finally {
      await app.close();
    }
  });
});

describe('durability', () => {
  it('loses nothing across a restart in the middle of the retry schedule', async () => {
    const app = await createTestApp(PRIVATE);
    let second: Worker | undefined;
    try {
      await withReceiver(async (receiver) => {
        receiver.respond = answer(500, 'down');
        const { owner, keyId, secret } = await keyWithWebhook(app, receiver);
        // The first instance tries once, schedules a retry a minute later, and stops.
        const first = startWorkers(app.app.deps, { pollIntervalMs: 50, webhookRetrySchedule: [60_000, 60_000] });
        const queued = await sendTest(app, owner, keyId);
        await eventually(async () => (await deliveries(app, owner, keyId))[0]?.attemptCount === 1);
        await first.stop();
        // While no worker runs, another event is recorded.
        const later = await sendTest(app, owner, keyId);
        const row = await app.database.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', queued.id).executeTakeFirstOrThrow();
        expect(row).toMatchObject({ status: 'PENDING', attempt_count: 1, claimed_by: null, claimed_until: null });

        // A new instance on the same database, past the retry's time (a minute, +20 % jitter at most).
        receiver.respond = answer(200, 'ok');
        const clock = new TestClock();
        clock.offset = 75_000;
        const restarted = createApp({ config: app.config, database: app.database, clock, mailer: app.mailer });
        second = startWorkers(restarted.deps, { pollIntervalMs: 50, webhookRetrySchedule: [60_000, 60_000] });
        const list = await settled(app, owner, keyId, 2);
        expect(list.map((d) => [d.id, d.status, d.attemptCount])).toEqual([
          [later.id, 'SUCCEEDED', 1],
          [queued.id, 'SUCCEEDED', 2],
        ]);
        const retried = receiver.received.filter((r) => r.headers['webhook-id'] === queued.messageId);
        expect(retried).toHaveLength(2);
        expect(receiver.received.filter((r) => r.headers['webhook-id'] === later.messageId)).toHaveLength(1);
        for (const r of receiver.received) expect(() => new StandardWebhook(secret).verify(r.body, r.headers)).not.toThrow();
      });
    } finally {
      await second?.stop();
      await app.close();
    }
  });

  it("takes over a delivery whose worker died once that worker's lease has run out", async () => {
    const app = await createTestApp(PRIVATE);
    let workers: Worker | undefined;
    try {
      await withReceiver(async (receiver) => {
        const { owner, keyId } = await keyWithWebhook(app, receiver);
        const queued = await sendTest(app, owner, keyId);
        await app.database.db
          .updateTable('webhook_deliveries')
          .set({ claimed_by: 'a-worker-that-died', claimed_until: app.clock.now() + 60_000 })
          .where('id', '=', queued.id)
          .execute();
        workers = startWorkers(app.app.deps, FAST);
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(receiver.received).toHaveLength(0);
        app.clock.advance(61_000);
        const [request] = await receiver.waitFor(1);
        expect(request?.headers['webhook-id']).toBe(queued.messageId);
        const [delivery] = await settled(app, owner, keyId);
        expect(delivery).toMatchObject({ status: 'SUCCEEDED', attemptCount: 1 });
      });
    } finally {
      await workers?.stop();
      await app.close();
    }
  });
});

describe('key.expiring', () => {
  it('fires once for a key within KEYSCOPE_KEY_EXPIRING_DAYS of expiry, not for one further out', async () => {
    await withReceiver(async (receiver) => {
      const owner = await signUp(t);
      // Both keys start far from expiry, so no scan can mark them before their webhooks are set.
      const farOff = new Date(Date.now() + 60 * 86_400_000).toISOString();
      const soon = await createKey(t, owner, { expiresAt: farOff });
      const later = await createKey(t, owner, { expiresAt: farOff });
      const secrets: Record<string, string> = {};
      for (const key of [soon, later]) {
        const { signingSecret } = await setWebhook(t, owner, { keyId: key.id, url: receiver.url, events: ['key.expiring'] });
        secrets[key.id] = signingSecret ?? '';
        secretsSeen.push(signingSecret ?? '');
      }
      const inDays = (days: number) => Date.now() + days * 86_400_000;
      await t.database.db.updateTable('api_keys').set({ expires_at: inDays(3) }).where('id', '=', soon.id).execute();
      await t.database.db.updateTable('api_keys').set({ expires_at: inDays(30) }).where('id', '=', later.id).execute();
      const [request] = await receiver.waitFor(1);
      const event = new StandardWebhook(secrets[soon.id] ?? '').verify(request?.body ?? '', request?.headers ?? {});
      expect(event).toMatchObject({ type: 'key.expiring', data: { keyId: soon.id, expiresAt: expect.any(String) } });
      // Several more scans: still once.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(receiver.received).toHaveLength(1);
      const rows = await t.database.db.selectFrom('api_keys').select(['id', 'expiring_notified_at']).where('id', 'in', [soon.id, later.id]).execute();
      expect(rows.find((r) => r.id === soon.id)?.expiring_notified_at).not.toBeNull();
      expect(rows.find((r) => r.id === later.id)?.expiring_notified_at).toBeNull();
      // Once the other key's expiry comes within the window, it fires too.
      await t.database.db.updateTable('api_keys').set({ expires_at: inDays(1) }).where('id', '=', later.id).execute();
      const [, second] = await receiver.waitFor(2);
      expect(JSON.parse(second?.body ?? '{}')).toMatchObject({ type: 'key.expiring', data: { keyId: later.id } });
    });
  });
});

describe('secrets', () => {
  it('never appear in webhookDeliveries or in anything logged', async () => {
    expect(secretsSeen.length).toBeGreaterThan(5);
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    await withReceiver(async (receiver) => {
      const { signingSecret } = await setWebhook(t, owner, { keyId: key.id, url: receiver.url });
      secretsSeen.push(signingSecret ?? '');
      await sendTest(t, owner, key.id);
      await settled(t, owner, key.id);
    });
    const listed = JSON.stringify(await deliveries(t, owner, key.id));
    const logged = output.join('');
    for (const secret of secretsSeen) {
      const bare = secret.slice('whsec_'.length);
      expect(listed).not.toContain(bare);
      expect(logged).not.toContain(bare);
    }
    expect(listed).not.toMatch(/whsec_/);
    expect(logged).not.toMatch(/whsec_/);
    // The logs were on: the check above looked at something.
    expect(logged).toMatch(/"event":"request"/);
  });
});
