// The outbox: an event is written in the same transaction as the change that causes it,
// and the delivery worker sends it later. Nothing is lost if the process stops in between.
import type { Insertable } from 'kysely';
import { inStatements } from '../db/batches.ts';
import type { DbOrTrx, Environment, WebhookDeliveriesTable } from '../db/database.ts';
import { preparedQuery } from '../db/prepared-query.ts';
import { newId } from '../ids.ts';

export const WEBHOOK_EVENTS = ['job.completed', 'job.failed', 'credits.low', 'key.revoked', 'key.expiring'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number] | 'webhook.test';

export interface WebhookEvent {
  accountId: string;
  keyId: string;
  environment: Environment;
  type: WebhookEventType;
  /** The event's `data`; a function is called only when a webhook will receive the event. */
  data: Record<string, unknown> | (() => Record<string, unknown>);
  at: number;
}

// A job finished alone, and every other event, looks its key's webhook up: compiled once (db/prepared-query.ts).
const keyWebhookQuery = preparedQuery<{ keyId: string; accountId: string }, { id: string; events: string; enabled: number }>(['keyId', 'accountId'], (db, p) =>
  db.selectFrom('webhooks').select(['id', 'events', 'enabled']).where('key_id', '=', p.keyId).where('account_id', '=', p.accountId),
);

type DeliveryRow = Insertable<WebhookDeliveriesTable>;

/**
 * The delivery of `event` to the key's webhook, if it takes it: enabled and subscribed to the
 * type (`webhook.test` is always sent). Null when nothing is to be queued.
 */
function deliveryFor(event: WebhookEvent, webhook: { id: string; events: string; enabled: number }): DeliveryRow | null {
  if (event.type !== 'webhook.test') {
    if (webhook.enabled !== 1) return null;
    if (!(JSON.parse(webhook.events) as string[]).includes(event.type)) return null;
  }
  const data = typeof event.data === 'function' ? event.data() : event.data;
  const payload = { type: event.type, timestamp: new Date(event.at).toISOString(), data };
  return {
    id: newId('whd', event.at),
    message_id: newId('msg', event.at),
    webhook_id: webhook.id,
    account_id: event.accountId,
    key_id: event.keyId,
    environment: event.environment,
    event_type: event.type,
    payload: JSON.stringify(payload),
    status: 'PENDING',
    attempt_count: 0,
    next_attempt_at: event.at,
    claimed_until: null,
    last_status_code: null,
    created_at: event.at,
  };
}

/**
 * Queues the event for the key's webhook if it has one, enabled and subscribed to the type
 * (`webhook.test` is always sent). Returns the delivery id, or null if nothing was queued.
 */
export async function enqueueWebhookEvent(db: DbOrTrx, event: WebhookEvent): Promise<string | null> {
  const webhook = (await keyWebhookQuery(db, { keyId: event.keyId, accountId: event.accountId })).rows[0];
  const delivery = webhook ? deliveryFor(event, webhook) : null;
  if (!delivery) return null;
  await db.insertInto('webhook_deliveries').values(delivery).execute();
  return delivery.id;
}

/**
 * enqueueWebhookEvent for several events at once (the job worker's outcomes): one look-up of
 * their keys' webhooks and one insert of the deliveries. A key has at most one webhook.
 */
export async function enqueueWebhookEvents(db: DbOrTrx, events: WebhookEvent[]): Promise<void> {
  if (events.length === 0) return;
  const keyIds = [...new Set(events.map((event) => event.keyId))];
  const webhooks = new Map<string, { id: string; account_id: string; events: string; enabled: number }>();
  for (const piece of inStatements(keyIds)) {
    const rows = await db.selectFrom('webhooks').select(['id', 'key_id', 'account_id', 'events', 'enabled']).where('key_id', 'in', piece).execute();
    for (const row of rows) webhooks.set(row.key_id, row);
  }
  const deliveries = events.flatMap((event) => {
    const webhook = webhooks.get(event.keyId);
    const delivery = webhook && webhook.account_id === event.accountId ? deliveryFor(event, webhook) : null;
    return delivery ? [delivery] : [];
  });
  for (const piece of inStatements(deliveries)) await db.insertInto('webhook_deliveries').values(piece).execute();
}
