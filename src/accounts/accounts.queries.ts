import type { AccountTokensTable, DbOrTrx } from '../db/database.ts';

export interface Account {
  id: string;
  email: string;
  emailVerified: boolean;
  createdAt: Date;
}

type AccountRow = { id: string; email: string; email_verified_at: number | null; created_at: number };

export function accountRowToAccount(row: AccountRow): Account {
  return {
    id: row.id,
    email: row.email,
    emailVerified: row.email_verified_at !== null,
    createdAt: new Date(row.created_at),
  };
}

export function findAccountById(db: DbOrTrx, id: string) {
  return db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findAccountByEmail(db: DbOrTrx, email: string) {
  return db.selectFrom('accounts').selectAll().where('email', '=', email).executeTakeFirst();
}

export async function insertAccount(db: DbOrTrx, row: { id: string; email: string; passwordHash: string; at: number }) {
  await db
    .insertInto('accounts')
    .values({ id: row.id, email: row.email, password_hash: row.passwordHash, email_verified_at: null, low_balance_threshold: null, created_at: row.at })
    .execute();
}

export async function setPasswordHash(db: DbOrTrx, accountId: string, passwordHash: string) {
  await db.updateTable('accounts').set({ password_hash: passwordHash }).where('id', '=', accountId).execute();
}

export async function markEmailVerified(db: DbOrTrx, accountId: string, at: number) {
  await db.updateTable('accounts').set({ email_verified_at: at }).where('id', '=', accountId).where('email_verified_at', 'is', null).execute();
}

/** Voids every unused token of that purpose: a reissued link replaces the old one. */
export async function voidAccountTokens(db: DbOrTrx, accountId: string, purpose: AccountTokensTable['purpose'], at: number) {
  await db
    .updateTable('account_tokens')
    .set({ used_at: at })
    .where('account_id', '=', accountId)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .execute();
}

export async function insertAccountToken(db: DbOrTrx, token: AccountTokensTable) {
  await db.insertInto('account_tokens').values(token).execute();
}

/** Marks the token used if it is live; returns its account, or undefined (unknown, used, expired). */
export async function consumeAccountToken(db: DbOrTrx, tokenHash: string, purpose: AccountTokensTable['purpose'], at: number) {
  const token = await db
    .selectFrom('account_tokens')
    .select(['account_id'])
    .where('token_hash', '=', tokenHash)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', at)
    .executeTakeFirst();
  if (!token) return undefined;
  const result = await db
    .updateTable('account_tokens')
    .set({ used_at: at })
    .where('token_hash', '=', tokenHash)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n ? token.account_id : undefined;
}
