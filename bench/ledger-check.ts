// After scenario 5 (and with the server stopped, its counters flushed): did the hot
// account's credits add up? The balance must equal the sum of its ledger, and the grants
// minus what the recorded LIVE jobs were charged plus refunds: anything else is credits
// lost or invented.
import { sql } from 'kysely';
import type { Db } from '../src/db/database.ts';

export interface LedgerCheck {
  granted: number;
  balance: number;
  ledgerSum: number;
  ledgerGrants: number;
  debits: number;
  refunds: number;
  liveJobs: number;
  liveJobsCharged: number;
  /** balance − ledger sum: must be 0. */
  balanceVsLedger: number;
  /** balance − (granted − charged to recorded jobs + refunds): must be 0. */
  lostOrInvented: number;
  ok: boolean;
}

export async function checkLedger(db: Db, accountId: string, granted: number): Promise<LedgerCheck> {
  const account = await db.selectFrom('accounts').select('credit_balance').where('id', '=', accountId).executeTakeFirstOrThrow();
  const ledger = await db
    .selectFrom('credit_ledger')
    .select([
      sql<number>`coalesce(sum(amount), 0)`.as('total'),
      sql<number>`coalesce(sum(case when kind in ('grant', 'claim') then amount else 0 end), 0)`.as('grants'),
      sql<number>`coalesce(sum(case when kind = 'debit' then -amount else 0 end), 0)`.as('debits'),
      sql<number>`coalesce(sum(case when kind = 'refund' then amount else 0 end), 0)`.as('refunds'),
    ])
    .where('account_id', '=', accountId)
    .executeTakeFirstOrThrow();
  const jobs = await db
    .selectFrom('jobs')
    .select([sql<number>`count(*)`.as('count'), sql<number>`coalesce(sum(charged), 0)`.as('charged')])
    .where('account_id', '=', accountId)
    .where('environment', '=', 'LIVE')
    .executeTakeFirstOrThrow();
  const balance = Number(account.credit_balance);
  const ledgerSum = Number(ledger.total);
  const refunds = Number(ledger.refunds);
  const liveJobsCharged = Number(jobs.charged);
  const balanceVsLedger = balance - ledgerSum;
  const lostOrInvented = balance - (granted - liveJobsCharged + refunds);
  return {
    granted,
    balance,
    ledgerSum,
    ledgerGrants: Number(ledger.grants),
    debits: Number(ledger.debits),
    refunds,
    liveJobs: Number(jobs.count),
    liveJobsCharged,
    balanceVsLedger,
    lostOrInvented,
    ok: balanceVsLedger === 0 && lostOrInvented === 0 && Number(ledger.grants) === granted,
  };
}
