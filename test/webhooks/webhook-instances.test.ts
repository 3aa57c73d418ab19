// Several server instances on one PostgreSQL: each has its own connection pool and its own
// workers. Every delivery is claimed by one worker only, so each event reaches the receiver
// exactly once, and a key.expiring scan run by all of them at once queues one event per key.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KeyscopeApp, createApp } from '../../src/app.ts';
import { type DatabaseHandle, connectDatabase } from '../../src/db/connect.ts';
import { notifyExpiringKeys } from '../../src/webhooks/key-expiring.ts';
import { type Worker, startWorkers } from '../../src/workers.ts';
import { type TestApp, createKey, createTestApp, dialect, signUp } from '../harness.ts';
import { deliveries, eventually, sendTest, setWebhook } from './operations.ts';
import { type Receiver, startReceiver } from './receiver.ts';

const EVENTS = 40;

describe.skipIf(dialect !== 'postgres')('two instances on one PostgreSQL', () => {
  let t: TestApp;
  let receiver: Receiver;
  const others: { database: DatabaseHandle; app: KeyscopeApp }[] = [];
  const workers: Worker[] = [];

  beforeAll(async () => {
    receiver = await startReceiver();
    t = await createTestApp({ KEYSCOPE_ALLOW_PRIVATE_WEBHOOKS: '1' });
    const { schema } = (await sql<{ schema: string }>`select current_schema() as schema`.execute(t.database.db)).rows[0] ?? { schema: '' };
    // Two more instances, each with a pool of its own, as separate processes would have.
    for (let i = 0; i < 2; i += 1) {
      const database = connectDatabase(process.env.TEST_DATABASE_URL ?? '', { pgSchema: schema, pgPoolSize: 4 });
      others.push({ database, app: createApp({ config: t.config, database, clock: t.clock, mailer: t.mailer }) });
    }
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    for (const other of others) await other.database.close();
    await t.close();
    await receiver.close();
  });

  it('deliver each event exactly once', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    await setWebhook(t, owner, { keyId: key.id, url: receiver.url });
    // A slow receiver keeps deliveries in flight while the other worker polls.
    receiver.respond = (_request, res) => setTimeout(() => res.end('ok'), 20);
    const queued = await Promise.all(Array.from({ length: EVENTS }, () => sendTest(t, owner, key.id)));
    for (const other of others) workers.push(startWorkers(other.app.deps, { pollIntervalMs: 10, webhookRetrySchedule: [50] }));

    await receiver.waitFor(EVENTS, 20_000);
    const list = await eventually(async () => {
      const all = await deliveries(t, owner, key.id);
      return all.length === EVENTS && all.every((d) => d.status === 'SUCCEEDED') && all;
    }, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const ids = receiver.received.map((r) => r.headers['webhook-id']);
    expect(ids).toHaveLength(EVENTS);
    expect(new Set(ids)).toEqual(new Set(queued.map((q) => q.messageId)));
    for (const delivery of list) expect(delivery.attemptCount).toBe(1);
    const attempts = await t.database.db.selectFrom('webhook_attempts').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    expect(Number(attempts.n)).toBe(EVENTS);
  });

  it('queue key.expiring once per key when every instance scans at once', async () => {
    const owner = await signUp(t);
    const keys = [];
    for (let i = 0; i < 5; i += 1) {
      const key = await createKey(t, owner, { expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
      await setWebhook(t, owner, { keyId: key.id, url: receiver.url, events: ['key.expiring'] });
      keys.push(key.id);
    }
    const marked = await Promise.all([t.app.deps, ...others.map((o) => o.app.deps)].map((deps) => notifyExpiringKeys(deps)));
    expect(marked.reduce((a, b) => a + b, 0)).toBe(5);
    const queued = await t.database.db.selectFrom('webhook_deliveries').select('key_id').where('event_type', '=', 'key.expiring').execute();
    expect(queued.map((q) => q.key_id).sort()).toEqual([...keys].sort());
  });
});
