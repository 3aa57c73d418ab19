import type { DbOrTrx } from '../db/database.ts';

export function findSettings(db: DbOrTrx, accountId: string) {
  return db.selectFrom('accounts').select(['low_balance_threshold']).where('id', '=', accountId).executeTakeFirst();
}

export async function setLowBalanceThreshold(db: DbOrTrx, accountId: string, threshold: number | null): Promise<void> {
  await db.updateTable('accounts').set({ low_balance_threshold: threshold }).where('id', '=', accountId).execute();
}
