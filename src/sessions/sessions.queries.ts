import type { DbOrTrx } from '../db/database.ts';

export async function insertSession(db: DbOrTrx, row: { id: string; accountId: string; at: number; expiresAt: number; ip: string }) {
  await db
    .insertInto('sessions')
    .values({ id: row.id, account_id: row.accountId, created_at: row.at, expires_at: row.expiresAt, revoked_at: null, revoked_reason: null, ip: row.ip })
    .execute();
}

export function findLiveSession(db: DbOrTrx, sessionId: string, at: number) {
  return db
    .selectFrom('sessions')
    .select(['id', 'account_id'])
    .where('id', '=', sessionId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', at)
    .executeTakeFirst();
}

export async function revokeSession(db: DbOrTrx, sessionId: string, reason: string, at: number) {
  await db.updateTable('sessions').set({ revoked_at: at, revoked_reason: reason }).where('id', '=', sessionId).where('revoked_at', 'is', null).execute();
}

export async function revokeAccountSessions(db: DbOrTrx, accountId: string, reason: string, at: number) {
  await db.updateTable('sessions').set({ revoked_at: at, revoked_reason: reason }).where('account_id', '=', accountId).where('revoked_at', 'is', null).execute();
}

export async function extendSession(db: DbOrTrx, sessionId: string, expiresAt: number) {
  await db.updateTable('sessions').set({ expires_at: expiresAt }).where('id', '=', sessionId).execute();
}

export async function insertRefreshToken(db: DbOrTrx, row: { hash: string; sessionId: string; at: number; expiresAt: number }) {
  await db.insertInto('refresh_tokens').values({ token_hash: row.hash, session_id: row.sessionId, created_at: row.at, expires_at: row.expiresAt, used_at: null }).execute();
}

export function findRefreshToken(db: DbOrTrx, hash: string) {
  return db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
}

/** Marks a refresh token used, only if it was unused: false means someone else already rotated it. */
export async function markRefreshTokenUsed(db: DbOrTrx, hash: string, at: number): Promise<boolean> {
  const result = await db.updateTable('refresh_tokens').set({ used_at: at }).where('token_hash', '=', hash).where('used_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows === 1n;
}
