// Daily usage rows, per key, always filtered by the owning account.
import type { DbOrTrx, Environment } from '../db/database.ts';

export interface UsageFilter {
  accountId: string;
  fromDay: string;
  toDay: string;
  keyId: string | null;
  environment: Environment | null;
}

function filtered(db: DbOrTrx, filter: UsageFilter) {
  let query = db
    .selectFrom('usage_daily')
    .where('account_id', '=', filter.accountId)
    .where('day', '>=', filter.fromDay)
    .where('day', '<=', filter.toDay);
  if (filter.keyId) query = query.where('key_id', '=', filter.keyId);
  if (filter.environment) query = query.where('environment', '=', filter.environment);
  return query;
}

/** Newest day first, then by key id (descending), after the (day, key) position if given. */
export function listUsageDays(db: DbOrTrx, filter: UsageFilter, page: { limit: number; after: { day: string; keyId: string } | null }) {
  let query = filtered(db, filter).selectAll();
  const after = page.after;
  if (after) {
    query = query.where((eb) => eb.or([eb('day', '<', after.day), eb.and([eb('day', '=', after.day), eb('key_id', '<', after.keyId)])]));
  }
  return query.orderBy('day', 'desc').orderBy('key_id', 'desc').limit(page.limit + 1).execute();
}

export async function sumUsage(db: DbOrTrx, filter: UsageFilter) {
  const row = await filtered(db, filter)
    .select((eb) => [
      eb.fn.sum<number | null>('requests').as('requests'),
      eb.fn.sum<number | null>('errors').as('errors'),
      eb.fn.sum<number | null>('credits_charged').as('creditsCharged'),
    ])
    .executeTakeFirst();
  return {
    requests: Number(row?.requests ?? 0),
    errors: Number(row?.errors ?? 0),
    creditsCharged: Number(row?.creditsCharged ?? 0),
  };
}
