// Webhook configuration and delivery history, for dashboard sessions. Secrets are created
// here, returned once, and stored only encrypted; every change is audited in its transaction.
import { findApiKey } from '../api-keys/api-keys.queries.ts';
import { actorOf } from '../audit/actor.ts';
import { insertAuditEvent } from '../audit/audit.queries.ts';
import type { RequestState } from '../context.ts';
import type { DbOrTrx, WebhookAttemptsTable, WebhooksTable } from '../db/database.ts';
import type { AppDeps } from '../deps.ts';
import { badUserInput, conflict, notFound } from '../errors.ts';
import { newId } from '../ids.ts';
import { type Page, type PageArgs, pageWindow, toPage } from '../schema/pagination.ts';
import { WEBHOOK_EVENTS, enqueueWebhookEvent } from './webhook-outbox.ts';
import { encryptSigningSecret, generateSigningSecret } from './webhook-secrets.ts';
import { validateWebhookUrl } from './webhook-url.ts';
import {
  type Webhook,
  type WebhookDelivery,
  deleteWebhookRow,
  deliveryRowToDelivery,
  findDeliveryRow,
  findWebhookForKey,
  insertWebhook,
  listAttemptRows,
  listDeliveryRows,
  updateWebhookRow,
  webhookRowToWebhook,
} from './webhooks.queries.ts';

export const MAX_SECRET_OVERLAP_SECONDS = 7 * 24 * 60 * 60;

export interface SetWebhookInput {
  keyId: string;
  url: string;
  events: string[];
  enabled?: boolean | null;
}

function auditOf(state: RequestState, accountId: string, action: string, webhookId: string, at: number, metadata: Record<string, unknown>) {
  return { ...actorOf(state), accountId, action, targetType: 'webhook', targetId: webhookId, metadata, at };
}

/** A non-empty subset of the contract's events, deduplicated, in the contract's order. */
function checkEvents(events: string[]): string[] {
  const unknown = events.filter((e) => !(WEBHOOK_EVENTS as readonly string[]).includes(e));
  if (unknown.length > 0) {
    throw badUserInput(`Unknown webhook events: ${unknown.join(', ')}. Known: ${WEBHOOK_EVENTS.join(', ')}.`, { field: 'events' });
  }
  const chosen = WEBHOOK_EVENTS.filter((e) => events.includes(e));
  if (chosen.length === 0) throw badUserInput('Subscribe to at least one event.', { field: 'events' });
  return chosen;
}

/** The account's key; another account's is NOT_FOUND. */
async function ownedKey(db: DbOrTrx, accountId: string, keyId: string) {
  const key = await findApiKey(db, accountId, keyId);
  if (!key) throw notFound('API key');
  return key;
}

function refuseRevoked(key: { revoked_at: number | null }): void {
  if (key.revoked_at !== null) throw conflict('This key is revoked; its webhook can no longer be changed.');
}

/** The key and its webhook; NOT_FOUND for another account's key or a key without one. */
async function webhookOf(db: DbOrTrx, accountId: string, keyId: string) {
  const key = await ownedKey(db, accountId, keyId);
  const webhook = await findWebhookForKey(db, accountId, keyId);
  if (!webhook) throw notFound('Webhook');
  return { key, webhook };
}

export async function getWebhookForKey(deps: AppDeps, accountId: string, keyId: string): Promise<Webhook | null> {
  const row = await findWebhookForKey(deps.db, accountId, keyId);
  return row ? webhookRowToWebhook(row) : null;
}

/**
 * Creates the key's webhook (returning its new signing secret, once) or replaces the URL,
 * events and enabled flag of the existing one (its secret stays; null is returned).
 * Enabling clears the reason a webhook was disabled.
 */
export async function setWebhook(deps: AppDeps, state: RequestState, accountId: string, input: SetWebhookInput) {
  const events = checkEvents(input.events);
  const url = await validateWebhookUrl(input.url, deps.config.allowPrivateWebhooks);
  const enabled = input.enabled ?? true;
  const at = deps.clock.now();
  return deps.db.transaction().execute(async (trx) => {
    refuseRevoked(await ownedKey(trx, accountId, input.keyId));
    const existing = await findWebhookForKey(trx, accountId, input.keyId);
    const metadata = { keyId: input.keyId, url, events, enabled };
    if (existing) {
      const changes = { url, events: JSON.stringify(events), enabled: enabled ? 1 : 0, updated_at: at, ...(enabled ? { disabled_reason: null } : {}) };
      await updateWebhookRow(trx, accountId, existing.id, changes);
      await insertAuditEvent(trx, auditOf(state, accountId, 'webhook.set', existing.id, at, metadata));
      return { webhook: webhookRowToWebhook({ ...existing, ...changes }), signingSecret: null };
    }
    const id = newId('whk', at);
    const signingSecret = generateSigningSecret();
    const row: WebhooksTable = {
      id,
      key_id: input.keyId,
      account_id: accountId,
      url,
      events: JSON.stringify(events),
      enabled: enabled ? 1 : 0,
      secret_enc: encryptSigningSecret(deps.config.serverSecret, id, signingSecret),
      previous_secret_enc: null,
      previous_secret_expires_at: null,
      disabled_reason: null,
      created_at: at,
      updated_at: at,
    };
    if (!(await insertWebhook(trx, row))) throw conflict('Another request set this webhook at the same moment; read it and try again.');
    await insertAuditEvent(trx, auditOf(state, accountId, 'webhook.set', id, at, metadata));
    return { webhook: webhookRowToWebhook(row), signingSecret };
  });
}

/** Removes the key's webhook. Its history stays readable; pending deliveries are dropped by the worker. */
export async function deleteWebhook(deps: AppDeps, state: RequestState, accountId: string, keyId: string) {
  const at = deps.clock.now();
  return deps.db.transaction().execute(async (trx) => {
    const { webhook } = await webhookOf(trx, accountId, keyId);
    await deleteWebhookRow(trx, accountId, webhook.id);
    await insertAuditEvent(trx, auditOf(state, accountId, 'webhook.deleted', webhook.id, at, { keyId, url: webhook.url }));
    return { deletedWebhookId: webhook.id, keyId };
  });
}

/**
 * A new signing secret, returned once. For `overlapSeconds` the previous secret keeps
 * signing too (both signatures, space-separated); a later rotation drops any older one.
 */
export async function rotateWebhookSecret(deps: AppDeps, state: RequestState, accountId: string, input: { keyId: string; overlapSeconds?: number | null }) {
  const overlap = input.overlapSeconds ?? 0;
  if (!Number.isInteger(overlap) || overlap < 0 || overlap > MAX_SECRET_OVERLAP_SECONDS) {
    throw badUserInput(`overlapSeconds must be between 0 and ${MAX_SECRET_OVERLAP_SECONDS}.`, { field: 'overlapSeconds' });
  }
  const at = deps.clock.now();
  return deps.db.transaction().execute(async (trx) => {
    const { key, webhook } = await webhookOf(trx, accountId, input.keyId);
    refuseRevoked(key);
    const signingSecret = generateSigningSecret();
    const changes = {
      secret_enc: encryptSigningSecret(deps.config.serverSecret, webhook.id, signingSecret),
      previous_secret_enc: overlap > 0 ? webhook.secret_enc : null,
      previous_secret_expires_at: overlap > 0 ? at + overlap * 1000 : null,
      updated_at: at,
    };
    await updateWebhookRow(trx, accountId, webhook.id, changes);
    await insertAuditEvent(trx, auditOf(state, accountId, 'webhook.secret_rotated', webhook.id, at, { keyId: input.keyId, overlapSeconds: overlap }));
    return { webhook: webhookRowToWebhook({ ...webhook, ...changes }), signingSecret };
  });
}

/** Queues a `webhook.test` event, sent even while the webhook is disabled or not subscribed. */
export async function sendTestWebhook(deps: AppDeps, accountId: string, keyId: string): Promise<WebhookDelivery> {
  const at = deps.clock.now();
  const deliveryId = await deps.db.transaction().execute(async (trx) => {
    const { key } = await webhookOf(trx, accountId, keyId);
    const id = await enqueueWebhookEvent(trx, {
      accountId,
      keyId,
      environment: key.environment,
      type: 'webhook.test',
      data: { keyId, name: key.name, prefix: key.prefix, message: 'A test event sent from the Keyscope dashboard.' },
      at,
    });
    if (!id) throw new Error('test event not queued');
    return id;
  });
  const row = await findDeliveryRow(deps.db, accountId, deliveryId);
  if (!row) throw new Error('queued delivery missing');
  return deliveryRowToDelivery(row, []);
}

/** The key's deliveries, newest first, each with every attempt. */
export async function listWebhookDeliveries(deps: AppDeps, accountId: string, keyId: string, args: PageArgs): Promise<Page<WebhookDelivery>> {
  const { limit, afterId } = pageWindow(args);
  await ownedKey(deps.db, accountId, keyId);
  const rows = await listDeliveryRows(deps.db, accountId, keyId, limit, afterId);
  // `rows` holds one more than the page (toPage reads hasNextPage from it); its attempts are not needed.
  const attemptsOf = new Map<string, WebhookAttemptsTable[]>();
  for (const attempt of await listAttemptRows(deps.db, rows.slice(0, limit).map((r) => r.id))) {
    attemptsOf.set(attempt.delivery_id, [...(attemptsOf.get(attempt.delivery_id) ?? []), attempt]);
  }
  const deliveries = rows.map((row) => deliveryRowToDelivery(row, attemptsOf.get(row.id) ?? []));
  return toPage(deliveries, limit, (d) => d.id);
}
