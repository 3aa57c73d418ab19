// The outbox's consumer. Due deliveries are claimed in batches with a lease (a conditional
// UPDATE naming this worker's token), sent outside any transaction, and their outcome is
// recorded only while the lease is still held. A worker that dies leaves leases that run
// out; any worker then takes the deliveries again, with the same `webhook-id`.
import { randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import { insertAuditEvent } from '../audit/audit.queries.ts';
import type { WebhookDeliveriesTable, WebhooksTable } from '../db/database.ts';
import type { AppDeps } from '../deps.ts';
import { logEvent } from '../http/logger.ts';
import { newId } from '../ids.ts';
import { type PollingLoop, startPolling } from '../polling-loop.ts';
import { type SendResult, postWebhook } from './webhook-sender.ts';
import { decryptSigningSecret, signDelivery } from './webhook-secrets.ts';
import {
  claimDeliveries,
  disableWebhookRow,
  dueDeliveryIds,
  findWebhookById,
  finishDeliveryAttempt,
  insertAttempt,
  webhookSucceededSince,
} from './webhooks.queries.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * Delays before each retry: 10 s, 1 min, 5 min, 30 min, 1 h, 2 h, 4 h, 8 h, 12 h, 12 h, 12 h,
 * 20 h; 13 attempts over about 71.6 hours (three days). Each delay gets ±20 % jitter.
 */
export const DEFAULT_RETRY_SCHEDULE_MS = [
  10 * SECOND,
  MINUTE,
  5 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  4 * HOUR,
  8 * HOUR,
  12 * HOUR,
  12 * HOUR,
  12 * HOUR,
  20 * HOUR,
];
export const WEBHOOK_TIMEOUT_MS = 10 * SECOND;
const DEFAULT_CONCURRENCY = 8;

export interface WebhookWorkerOptions {
  pollIntervalMs?: number;
  retrySchedule?: number[];
  timeoutMs?: number;
  /** Deliveries in flight at once (default 8). */
  concurrency?: number;
}

type Delivery = Selectable<WebhookDeliveriesTable>;
type Outcome = Pick<WebhookDeliveriesTable, 'status' | 'next_attempt_at' | 'failure_reason'>;

export function withJitter(delayMs: number): number {
  return Math.round(delayMs * (0.8 + Math.random() * 0.4));
}

/** The secrets that sign now: the current one, and the previous one during a rotation overlap. */
function signingSecrets(deps: AppDeps, webhook: WebhooksTable, now: number): string[] {
  const secrets = [decryptSigningSecret(deps.config.serverSecret, webhook.id, webhook.secret_enc)];
  if (webhook.previous_secret_enc && webhook.previous_secret_expires_at !== null && webhook.previous_secret_expires_at > now) {
    secrets.push(decryptSigningSecret(deps.config.serverSecret, webhook.id, webhook.previous_secret_enc));
  }
  return secrets;
}

async function send(deps: AppDeps, webhook: WebhooksTable, delivery: Delivery, timeoutMs: number): Promise<SendResult> {
  const at = deps.clock.now();
  let signature: string;
  try {
    signature = signDelivery(signingSecrets(deps, webhook, at), delivery.message_id, new Date(at), delivery.payload);
  } catch {
    // Counted as a failed attempt, so the schedule runs out instead of retrying for ever.
    return { statusCode: null, durationMs: 0, errorClass: 'SIGNING_FAILED', responseExcerpt: null };
  }
  const headers = {
    'webhook-id': delivery.message_id,
    'webhook-timestamp': String(Math.floor(at / 1000)),
    'webhook-signature': signature,
  };
  return postWebhook(webhook.url, headers, delivery.payload, { allowPrivate: deps.config.allowPrivateWebhooks, timeoutMs });
}

/** What happens after an attempt, and whether the webhook is to be disabled (and why). */
function decide(result: SendResult, attempt: number, schedule: number[], now: number): { outcome: Outcome; disable: string | null; exhausted: boolean } {
  if (result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300) {
    return { outcome: { status: 'SUCCEEDED', next_attempt_at: null, failure_reason: null }, disable: null, exhausted: false };
  }
  if (result.statusCode === 410) {
    return {
      outcome: { status: 'FAILED', next_attempt_at: null, failure_reason: 'GONE' },
      disable: 'The receiver answered 410 Gone.',
      exhausted: false,
    };
  }
  const delay = schedule[attempt - 1];
  if (delay !== undefined) {
    return { outcome: { status: 'PENDING', next_attempt_at: now + withJitter(delay), failure_reason: null }, disable: null, exhausted: false };
  }
  const last = result.statusCode !== null ? `HTTP ${result.statusCode}` : (result.errorClass ?? 'error');
  return {
    outcome: { status: 'FAILED', next_attempt_at: null, failure_reason: 'RETRIES_EXHAUSTED' },
    disable: `No delivery succeeded during the whole retry schedule (${attempt} attempts; last: ${last}).`,
    exhausted: true,
  };
}

/** Gives a delivery up without an attempt (its webhook is gone or disabled). */
async function abandon(deps: AppDeps, delivery: Delivery, token: string, reason: 'WEBHOOK_DELETED' | 'WEBHOOK_DISABLED') {
  await finishDeliveryAttempt(deps.db, delivery.id, token, {
    status: 'FAILED',
    next_attempt_at: null,
    last_status_code: delivery.last_status_code,
    failure_reason: reason,
    attempt_count: delivery.attempt_count,
  });
}

/** One attempt at one claimed delivery, recorded with its consequences in one transaction. */
export async function deliverWebhook(deps: AppDeps, delivery: Delivery, token: string, options: Required<Pick<WebhookWorkerOptions, 'retrySchedule' | 'timeoutMs'>>) {
  const webhook = await findWebhookById(deps.db, delivery.webhook_id);
  if (!webhook) return abandon(deps, delivery, token, 'WEBHOOK_DELETED');
  if (webhook.enabled !== 1 && delivery.event_type !== 'webhook.test') return abandon(deps, delivery, token, 'WEBHOOK_DISABLED');

  const result = await send(deps, webhook, delivery, options.timeoutMs);
  const now = deps.clock.now();
  const attempt = delivery.attempt_count + 1;
  const { outcome, disable, exhausted } = decide(result, attempt, options.retrySchedule, now);
  const recorded = await deps.db.transaction().execute(async (trx) => {
    const finished = await finishDeliveryAttempt(trx, delivery.id, token, {
      ...outcome,
      attempt_count: attempt,
      last_status_code: result.statusCode ?? delivery.last_status_code,
    });
    if (!finished) return false;
    await insertAttempt(trx, {
      id: newId('wha', now),
      delivery_id: delivery.id,
      attempt,
      status_code: result.statusCode,
      duration_ms: result.durationMs,
      error_class: result.errorClass,
      response_excerpt: result.responseExcerpt,
      next_attempt_at: outcome.next_attempt_at,
      created_at: now,
    });
    // A receiver that took other deliveries during the schedule is alive: only this event failed.
    const shouldDisable = disable !== null && !(exhausted && (await webhookSucceededSince(trx, webhook.id, delivery.created_at)));
    if (shouldDisable && (await disableWebhookRow(trx, webhook.id, disable, now))) {
      await insertAuditEvent(trx, {
        accountId: webhook.account_id,
        actorType: 'system',
        actorId: null,
        action: 'webhook.disabled',
        targetType: 'webhook',
        targetId: webhook.id,
        metadata: { keyId: webhook.key_id, reason: disable, deliveryId: delivery.id },
        at: now,
      });
    }
    return true;
  });
  if (!recorded) logEvent('webhook_lease_lost', { deliveryId: delivery.id });
}

/** Polls for due deliveries and sends up to `concurrency` at once. `stop()` waits for those in flight. */
export function startWebhookWorker(deps: AppDeps, options: WebhookWorkerOptions = {}): PollingLoop {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const send = { retrySchedule: options.retrySchedule ?? DEFAULT_RETRY_SCHEDULE_MS, timeoutMs: options.timeoutMs ?? WEBHOOK_TIMEOUT_MS };
  // The lease outlasts the longest attempt (the timeout) with room for the database writes.
  const leaseMs = send.timeoutMs + 50 * SECOND;
  const token = randomUUID();
  const inFlight = new Set<Promise<void>>();

  const pass = async (): Promise<boolean> => {
    // At capacity: wait for a slot rather than for the next interval.
    if (inFlight.size >= concurrency) {
      await Promise.race(inFlight);
      return true;
    }
    const room = concurrency - inFlight.size;
    const now = deps.clock.now();
    const ids = await dueDeliveryIds(deps.db, now, room);
    const claimed = await claimDeliveries(deps.db, ids, token, now, now + leaseMs);
    for (const delivery of claimed) {
      const run: Promise<void> = deliverWebhook(deps, delivery, token, send)
        .catch((error: unknown) => {
          // Left claimed: the lease runs out and the delivery is taken again.
          logEvent('webhook_delivery_failed', { deliveryId: delivery.id, error: error instanceof Error ? error.name : 'unknown' });
        })
        .finally(() => inFlight.delete(run));
      inFlight.add(run);
    }
    // A full batch: more may be due.
    return claimed.length === room;
  };

  const loop = startPolling('webhook_worker', options.pollIntervalMs ?? 500, pass);
  return {
    async stop() {
      await loop.stop();
      await Promise.all(inFlight);
    },
  };
}
