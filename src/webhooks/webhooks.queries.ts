// Kysely only. Dashboard reads take the accountId: another account's webhook or delivery
// is simply not found. The worker's functions work by id across accounts.
import type { Selectable } from 'kysely';
import type { DbOrTrx, WebhookAttemptsTable, WebhookDeliveriesTable, WebhooksTable } from '../db/database.ts';

export interface Webhook {
  id: string;
  keyId: string;
  accountId: string;
  url: string;
  events: string[];
  enabled: boolean;
  disabledReason: string | null;
  /** While set and in the future, deliveries carry the previous secret's signature too. */
  previousSecretExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export function webhookRowToWebhook(row: WebhooksTable): Webhook {
  return {
    id: row.id,
    keyId: row.key_id,
    accountId: row.account_id,
    url: row.url,
    events: JSON.parse(row.events) as string[],
    enabled: row.enabled === 1,
    disabledReason: row.disabled_reason,
    previousSecretExpiresAt: row.previous_secret_expires_at === null ? null : new Date(row.previous_secret_expires_at),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export interface WebhookAttempt {
  id: string;
  attempt: number;
  statusCode: number | null;
  durationMs: number;
  errorClass: string | null;
  responseExcerpt: string | null;
  nextAttemptAt: Date | null;
  createdAt: Date;
}

export function attemptRowToAttempt(row: WebhookAttemptsTable): WebhookAttempt {
  return {
    id: row.id,
    attempt: row.attempt,
    statusCode: row.status_code,
    durationMs: row.duration_ms,
    errorClass: row.error_class,
    responseExcerpt: row.response_excerpt,
    nextAttemptAt: row.next_attempt_at === null ? null : new Date(row.next_attempt_at),
    createdAt: new Date(row.created_at),
  };
}

export interface WebhookDelivery {
  id: string;
  messageId: string;
  keyId: string;
  environment: WebhookDeliveriesTable['environment'];
  eventType: string;
  payload: unknown;
  status: WebhookDeliveriesTable['status'];
  attemptCount: number;
  nextAttemptAt: Date | null;
  lastStatusCode: number | null;
  failureReason: string | null;
  createdAt: Date;
  attempts: WebhookAttempt[];
}

export function deliveryRowToDelivery(row: Selectable<WebhookDeliveriesTable>, attempts: WebhookAttemptsTable[]): WebhookDelivery {
  return {
    id: row.id,
    messageId: row.message_id,
    keyId: row.key_id,
    environment: row.environment,
    eventType: row.event_type,
    payload: JSON.parse(row.payload) as unknown,
    status: row.status,
    attemptCount: row.attempt_count,
    nextAttemptAt: row.status === 'PENDING' && row.next_attempt_at !== null ? new Date(row.next_attempt_at) : null,
    lastStatusCode: row.last_status_code,
    failureReason: row.failure_reason,
    createdAt: new Date(row.created_at),
    attempts: attempts.map(attemptRowToAttempt),
  };
}

// --- configuration (dashboard) ---

export function findWebhookForKey(db: DbOrTrx, accountId: string, keyId: string) {
  return db.selectFrom('webhooks').selectAll().where('key_id', '=', keyId).where('account_id', '=', accountId).executeTakeFirst();
}

/** Inserts the key's webhook; false when the key already has one (a concurrent setWebhook won). */
export async function insertWebhook(db: DbOrTrx, row: WebhooksTable): Promise<boolean> {
  const result = await db.insertInto('webhooks').values(row).onConflict((oc) => oc.column('key_id').doNothing()).executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
}

export async function updateWebhookRow(db: DbOrTrx, accountId: string, webhookId: string, changes: Partial<WebhooksTable>) {
  await db.updateTable('webhooks').set(changes).where('id', '=', webhookId).where('account_id', '=', accountId).execute();
}

export async function deleteWebhookRow(db: DbOrTrx, accountId: string, webhookId: string) {
  await db.deleteFrom('webhooks').where('id', '=', webhookId).where('account_id', '=', accountId).execute();
}

export function listDeliveryRows(db: DbOrTrx, accountId: string, keyId: string, limit: number, afterId: string | null) {
  let query = db.selectFrom('webhook_deliveries').selectAll().where('account_id', '=', accountId).where('key_id', '=', keyId);
  if (afterId) query = query.where('id', '<', afterId);
  return query.orderBy('id', 'desc').limit(limit + 1).execute();
}

export function findDeliveryRow(db: DbOrTrx, accountId: string, deliveryId: string) {
  return db.selectFrom('webhook_deliveries').selectAll().where('id', '=', deliveryId).where('account_id', '=', accountId).executeTakeFirst();
}

/** Attempts of the given deliveries, oldest first. Callers pass ids they already own. */
export async function listAttemptRows(db: DbOrTrx, deliveryIds: string[]) {
  if (deliveryIds.length === 0) return [];
  return db.selectFrom('webhook_attempts').selectAll().where('delivery_id', 'in', deliveryIds).orderBy('delivery_id').orderBy('attempt').execute();
}

// --- delivery (worker) ---

export async function dueDeliveryIds(db: DbOrTrx, now: number, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('webhook_deliveries')
    .select('id')
    .where('status', '=', 'PENDING')
    .where('next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
    .orderBy('next_attempt_at')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}

/**
 * Takes the lease on those of `ids` that are still due and unleased. The conditions are
 * re-checked by the UPDATE itself (PostgreSQL re-evaluates them on the row it waited for),
 * so of several workers racing for one row exactly one gets it.
 */
export async function claimDeliveries(db: DbOrTrx, ids: string[], token: string, now: number, leaseUntil: number) {
  if (ids.length === 0) return [];
  await db
    .updateTable('webhook_deliveries')
    .set({ claimed_by: token, claimed_until: leaseUntil })
    .where('id', 'in', ids)
    .where('status', '=', 'PENDING')
    .where('next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
    .execute();
  return db.selectFrom('webhook_deliveries').selectAll().where('id', 'in', ids).where('claimed_by', '=', token).execute();
}

export function findWebhookById(db: DbOrTrx, webhookId: string) {
  return db.selectFrom('webhooks').selectAll().where('id', '=', webhookId).executeTakeFirst();
}

export async function insertAttempt(db: DbOrTrx, row: WebhookAttemptsTable) {
  await db.insertInto('webhook_attempts').values(row).execute();
}

/** Records the outcome and releases the lease, only if this worker still holds it. */
export async function finishDeliveryAttempt(
  db: DbOrTrx,
  deliveryId: string,
  token: string,
  changes: Pick<WebhookDeliveriesTable, 'status' | 'next_attempt_at' | 'last_status_code' | 'failure_reason'> & { attempt_count: number },
): Promise<boolean> {
  const result = await db
    .updateTable('webhook_deliveries')
    .set({ ...changes, claimed_by: null, claimed_until: null })
    .where('id', '=', deliveryId)
    .where('claimed_by', '=', token)
    .where('status', '=', 'PENDING')
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/** Disables once: false if it was already disabled (or is gone). */
export async function disableWebhookRow(db: DbOrTrx, webhookId: string, reason: string, at: number): Promise<boolean> {
  const result = await db
    .updateTable('webhooks')
    .set({ enabled: 0, disabled_reason: reason, updated_at: at })
    .where('id', '=', webhookId)
    .where('enabled', '=', 1)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/** Whether the receiver answered 2xx to any delivery of this webhook since `since`. */
export async function webhookSucceededSince(db: DbOrTrx, webhookId: string, since: number): Promise<boolean> {
  const row = await db
    .selectFrom('webhook_attempts')
    .innerJoin('webhook_deliveries', 'webhook_deliveries.id', 'webhook_attempts.delivery_id')
    .select('webhook_attempts.id')
    .where('webhook_deliveries.webhook_id', '=', webhookId)
    .where('webhook_attempts.created_at', '>=', since)
    .where('webhook_attempts.status_code', '>=', 200)
    .where('webhook_attempts.status_code', '<', 300)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

// --- key.expiring ---

/** Live keys whose expiry falls within (now, until] and that have not been told yet. */
export function keysExpiringBefore(db: DbOrTrx, now: number, until: number, limit: number) {
  return db
    .selectFrom('api_keys')
    .select(['id', 'account_id', 'name', 'prefix', 'environment', 'expires_at'])
    .where('revoked_at', 'is', null)
    .where('expiring_notified_at', 'is', null)
    .where('expires_at', '>', now)
    .where('expires_at', '<=', until)
    .orderBy('expires_at')
    .limit(limit)
    .execute();
}

/** Marks the key as told, once: false if another instance got there first. */
export async function markKeyExpiringNotified(db: DbOrTrx, keyId: string, at: number): Promise<boolean> {
  const result = await db
    .updateTable('api_keys')
    .set({ expiring_notified_at: at })
    .where('id', '=', keyId)
    .where('expiring_notified_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}
