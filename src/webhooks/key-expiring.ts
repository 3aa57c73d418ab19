// `key.expiring`: a periodic scan finds live keys whose expiry is within
// config.keyExpiringDays and, for each, marks it told and queues the event in one
// transaction. The mark is a conditional UPDATE, so with several instances scanning the
// same database the event is queued once per key.
import type { AppDeps } from '../deps.ts';
import { type PollingLoop, startPolling } from '../polling-loop.ts';
import { enqueueWebhookEvent } from './webhook-outbox.ts';
import { keysExpiringBefore, markKeyExpiringNotified } from './webhooks.queries.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const BATCH = 100;
export const DEFAULT_KEY_EXPIRING_SCAN_MS = 60_000;

/** One scan. Returns how many keys were marked (each fires `key.expiring` if its webhook subscribes). */
export async function notifyExpiringKeys(deps: AppDeps): Promise<number> {
  const now = deps.clock.now();
  const keys = await keysExpiringBefore(deps.db, now, now + deps.config.keyExpiringDays * DAY_MS, BATCH);
  let marked = 0;
  for (const key of keys) {
    const won = await deps.db.transaction().execute(async (trx) => {
      if (!(await markKeyExpiringNotified(trx, key.id, now))) return false;
      await enqueueWebhookEvent(trx, {
        accountId: key.account_id,
        keyId: key.id,
        environment: key.environment,
        type: 'key.expiring',
        data: { keyId: key.id, name: key.name, prefix: key.prefix, environment: key.environment, expiresAt: new Date(key.expires_at ?? now).toISOString() },
        at: now,
      });
      return true;
    });
    if (won) marked += 1;
  }
  return marked;
}

export function startKeyExpiringScanner(deps: AppDeps, intervalMs = DEFAULT_KEY_EXPIRING_SCAN_MS): PollingLoop {
  return startPolling('key_expiring_scan', intervalMs, async () => (await notifyExpiringKeys(deps)) >= BATCH, 0);
}
