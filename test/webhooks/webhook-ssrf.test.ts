// With private webhooks NOT allowed (production's rule), a webhook whose target becomes a
// non-public address after it was set (DNS rebinding, or an old row) is refused again at
// delivery time, by the URL check and by request-filtering-agent on the address actually
// connected to. The refusal is recorded as an attempt; the receiver never sees a request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, createKey, createTestApp, signUp } from '../harness.ts';
import { deliveries, eventually, sendTest, setWebhook } from './operations.ts';
import { type Receiver, startReceiver } from './receiver.ts';

let t: TestApp;
let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver();
  t = await createTestApp({}, { workers: { pollIntervalMs: 50, webhookRetrySchedule: [50] } });
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});

describe('delivery-time SSRF refusal', () => {
  it.each([
    ['a name that now resolves to 127.0.0.1', (port: number) => `https://localhost:${port}/hook`],
    ['an IPv4-mapped loopback literal', (port: number) => `https://[::ffff:127.0.0.1]:${port}/hook`],
    ['a decimal loopback literal', (port: number) => `https://2130706433:${port}/hook`],
    ['the metadata address', () => 'https://169.254.169.254/latest/meta-data/'],
    ['plain http to loopback', (port: number) => `http://127.0.0.1:${port}/hook`],
  ])('refuses %s, recording ADDRESS_REFUSED attempts and sending nothing', async (_label, target) => {
    const owner = await signUp(t);
    const key = await createKey(t, owner);
    await setWebhook(t, owner, { keyId: key.id, url: 'https://93.184.215.14/hook' });
    // The row now points somewhere private, as if the name had been re-pointed after it was checked.
    await t.database.db.updateTable('webhooks').set({ url: target(receiver.port) }).where('key_id', '=', key.id).execute();
    await sendTest(t, owner, key.id);
    const [delivery] = await eventually(async () => {
      const list = await deliveries(t, owner, key.id);
      return list[0]?.status === 'FAILED' && list;
    });
    expect(delivery.attempts).toHaveLength(2);
    for (const attempt of delivery.attempts) expect(attempt).toMatchObject({ statusCode: null, errorClass: 'ADDRESS_REFUSED', responseExcerpt: null });
    expect(delivery.failureReason).toBe('RETRIES_EXHAUSTED');
    expect(receiver.received).toHaveLength(0);
  });
});
