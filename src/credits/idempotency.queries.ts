// Idempotency keys, unique per (account, environment, key) by primary key.
import type { DbOrTrx, Environment } from '../db/database.ts';

export interface IdempotencyClaim {
  accountId: string;
  environment: Environment;
  key: string;
  operation: string;
  requestHash: string;
  resultId: string;
  at: number;
}

/**
 * Inserts the key unless it exists: true when this call owns it. `ON CONFLICT DO NOTHING`
 * rather than catching a unique violation: on PostgreSQL a concurrent duplicate waits for the
 * first transaction, then inserts nothing, and its own transaction stays usable.
 */
export async function claimIdempotencyKey(db: DbOrTrx, claim: IdempotencyClaim): Promise<boolean> {
  const row = await db
    .insertInto('idempotency_keys')
    .values({
      account_id: claim.accountId,
      environment: claim.environment,
      key: claim.key,
      operation: claim.operation,
      request_hash: claim.requestHash,
      result_id: claim.resultId,
      created_at: claim.at,
    })
    .onConflict((oc) => oc.columns(['account_id', 'environment', 'key']).doNothing())
    .returning('key')
    .executeTakeFirst();
  return row !== undefined;
}

export function findIdempotencyKey(db: DbOrTrx, accountId: string, environment: Environment, key: string) {
  return db
    .selectFrom('idempotency_keys')
    .select(['operation', 'request_hash', 'result_id', 'created_at'])
    .where('account_id', '=', accountId)
    .where('environment', '=', environment)
    .where('key', '=', key)
    .executeTakeFirst();
}

/** Forgets this one key if it is older than `before`, so that it can be used afresh. */
export async function releaseExpiredIdempotencyKey(db: DbOrTrx, accountId: string, environment: Environment, key: string, before: number) {
  await db
    .deleteFrom('idempotency_keys')
    .where('account_id', '=', accountId)
    .where('environment', '=', environment)
    .where('key', '=', key)
    .where('created_at', '<', before)
    .execute();
}

export async function purgeIdempotencyKeys(db: DbOrTrx, before: number): Promise<number> {
  const result = await db.deleteFrom('idempotency_keys').where('created_at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}
