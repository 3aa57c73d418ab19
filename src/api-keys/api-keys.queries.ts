import { PostgresAdapter, sql } from 'kysely';
import type { ApiKeysTable, DbOrTrx, Environment } from '../db/database.ts';
import type { Restrictions } from './restrictions.ts';

export interface ApiKey {
  id: string;
  accountId: string;
  name: string;
  prefix: string;
  scope: ApiKeysTable['scope'];
  environment: Environment;
  createdAt: Date;
  lastUsedAt: Date | null;
  lastUsedIp: string | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  restrictions: Restrictions;
  rateLimit: { requests: number; windowSeconds: number } | null;
}

const date = (ms: number | null) => (ms === null ? null : new Date(ms));

/** A key's own rate limit, or null for the server default. */
export function rateLimitOf(row: Pick<ApiKeysTable, 'rate_limit_requests' | 'rate_limit_window_seconds'>) {
  return row.rate_limit_requests !== null && row.rate_limit_window_seconds !== null
    ? { requests: row.rate_limit_requests, windowSeconds: row.rate_limit_window_seconds }
    : null;
}

export function apiKeyRowToApiKey(row: ApiKeysTable): ApiKey {
  return {
    id: row.id,
    accountId: row.account_id,
    name: row.name,
    prefix: row.prefix,
    scope: row.scope,
    environment: row.environment,
    createdAt: new Date(row.created_at),
    lastUsedAt: date(row.last_used_at),
    lastUsedIp: row.last_used_ip,
    expiresAt: date(row.expires_at),
    revokedAt: date(row.revoked_at),
    restrictions: {
      allowedIps: JSON.parse(row.allowed_ips) as string[],
      allowedReferrers: JSON.parse(row.allowed_referrers) as string[],
      allowedOperations: JSON.parse(row.allowed_operations) as string[],
    },
    rateLimit: rateLimitOf(row),
  };
}

/** Another account's key is simply not found. */
export function findApiKey(db: DbOrTrx, accountId: string, keyId: string) {
  return db.selectFrom('api_keys').selectAll().where('id', '=', keyId).where('account_id', '=', accountId).executeTakeFirst();
}

export function listApiKeys(
  db: DbOrTrx,
  accountId: string,
  filter: { environment: Environment | null; includeRevoked: boolean; limit: number; afterId: string | null },
) {
  let query = db.selectFrom('api_keys').selectAll().where('account_id', '=', accountId);
  if (filter.environment) query = query.where('environment', '=', filter.environment);
  if (!filter.includeRevoked) query = query.where('revoked_at', 'is', null);
  if (filter.afterId) query = query.where('id', '<', filter.afterId);
  return query.orderBy('id', 'desc').limit(filter.limit + 1).execute();
}

export async function insertApiKey(db: DbOrTrx, row: ApiKeysTable) {
  await db.insertInto('api_keys').values(row).execute();
}

export async function insertApiKeySecret(db: DbOrTrx, row: { hash: string; keyId: string; at: number }) {
  await db.insertInto('api_key_secrets').values({ hash: row.hash, key_id: row.keyId, created_at: row.at, expires_at: null }).execute();
}

/** Every secret of the key stops at `until` at the latest; an earlier end is never extended. */
export async function capApiKeySecrets(db: DbOrTrx, keyId: string, until: number) {
  await db.updateTable('api_key_secrets').set({ expires_at: until }).where('key_id', '=', keyId).where('expires_at', 'is', null).execute();
  await db.updateTable('api_key_secrets').set({ expires_at: until }).where('key_id', '=', keyId).where('expires_at', '>', until).execute();
}

export async function updateApiKeyRow(db: DbOrTrx, accountId: string, keyId: string, changes: Partial<ApiKeysTable>) {
  await db.updateTable('api_keys').set(changes).where('id', '=', keyId).where('account_id', '=', accountId).execute();
}

/** Revokes once: returns false if it was already revoked. */
export async function markApiKeyRevoked(db: DbOrTrx, accountId: string, keyId: string, at: number): Promise<boolean> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: at, updated_at: at })
    .where('id', '=', keyId)
    .where('account_id', '=', accountId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/**
 * Announces a change to the key to every instance when the transaction commits (PostgreSQL
 * NOTIFY on the channel the verification caches listen to; the table triggers announce
 * changes too, this makes sure a write that changed nothing still answers its waiter).
 * SQLite has one writer, which evicts by itself.
 */
export async function announceApiKeyChange(db: DbOrTrx, keyId: string): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`select pg_notify('keyscope_api_keys', ${keyId})`.execute(db);
}
