// The webhook operations as a dashboard sends them, shared by the webhook tests.
import type { Signup, TestApp } from '../harness.ts';

export const WEBHOOK_FIELDS = 'id keyId url events enabled disabledReason previousSecretExpiresAt createdAt updatedAt';
export const SET_WEBHOOK = `mutation($input: SetWebhookInput!) { setWebhook(input: $input) { webhook { ${WEBHOOK_FIELDS} } signingSecret } }`;
export const DELETE_WEBHOOK = 'mutation($input: DeleteWebhookInput!) { deleteWebhook(input: $input) { deletedWebhookId keyId } }';
export const ROTATE_SECRET = `mutation($input: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $input) { webhook { ${WEBHOOK_FIELDS} } signingSecret } }`;
export const SEND_TEST = 'mutation($input: SendTestWebhookInput!) { sendTestWebhook(input: $input) { delivery { id messageId eventType status attemptCount } } }';
export const DELIVERIES = `query($keyId: ID!, $first: Int, $after: String) {
  webhookDeliveries(keyId: $keyId, first: $first, after: $after) {
    edges { cursor node {
      id messageId eventType environment payload status attemptCount nextAttemptAt lastStatusCode failureReason createdAt
      attempts { attempt statusCode durationMs errorClass responseExcerpt nextAttemptAt createdAt }
    } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const ALL_EVENTS = ['job.completed', 'job.failed', 'credits.low', 'key.revoked', 'key.expiring'];

export async function setWebhook(t: TestApp, owner: Signup, input: { keyId: string; url: string; events?: string[]; enabled?: boolean }) {
  const res = await t.gql(SET_WEBHOOK, { variables: { input: { events: ALL_EVENTS, ...input } }, session: owner.jar });
  const payload = res.body.data?.setWebhook;
  if (!payload) throw new Error(`setWebhook failed: ${JSON.stringify(res.body)}`);
  return payload as { webhook: { id: string; url: string; events: string[]; enabled: boolean; disabledReason: string | null }; signingSecret: string | null };
}

export async function sendTest(t: TestApp, owner: Signup, keyId: string): Promise<{ id: string; messageId: string }> {
  const res = await t.gql(SEND_TEST, { variables: { input: { keyId } }, session: owner.jar });
  const delivery = res.body.data?.sendTestWebhook?.delivery;
  if (!delivery) throw new Error(`sendTestWebhook failed: ${JSON.stringify(res.body)}`);
  return delivery;
}

// biome-ignore lint/suspicious/noExplicitAny: tests read whatever the server sent
export async function deliveries(t: TestApp, owner: Signup, keyId: string): Promise<any[]> {
  const res = await t.gql(DELIVERIES, { variables: { keyId, first: 100 }, session: owner.jar });
  if (!res.body.data?.webhookDeliveries) throw new Error(`webhookDeliveries failed: ${JSON.stringify(res.body)}`);
  // biome-ignore lint/suspicious/noExplicitAny: as above
  return res.body.data.webhookDeliveries.edges.map((e: any) => e.node);
}

/** Polls until `check` returns a value (not undefined/false), or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
