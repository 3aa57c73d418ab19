// The balance and its ledger. A balance changes only by a relative UPDATE (never a value
// read and written back) and every change has its ledger row, in the caller's transaction.
import { sql } from 'kysely';
import type { DatabaseHandle } from '../db/connect.ts';
import type { CreditLedgerTable, DbOrTrx, LedgerKind } from '../db/database.ts';
import { preparedQuery } from '../db/prepared-query.ts';
import { newId } from '../ids.ts';

export interface LedgerEntry {
  id: string;
  amount: number;
  balanceAfter: number;
  kind: LedgerKind;
  reason: string;
  actor: string;
  keyId: string | null;
  jobId: string | null;
  createdAt: Date;
}

export function ledgerRowToEntry(row: CreditLedgerTable): LedgerEntry {
  return {
    id: row.id,
    amount: row.amount,
    balanceAfter: row.balance_after,
    kind: row.kind,
    reason: row.reason,
    actor: row.actor,
    keyId: row.key_id,
    jobId: row.job_id,
    createdAt: new Date(row.created_at),
  };
}

// The balance, the debit and the ledger row run on every metered request: compiled once
// (db/prepared-query.ts).
const readBalanceQuery = preparedQuery<{ accountId: string }, { credit_balance: number }>(['accountId'], (db, p) =>
  db.selectFrom('accounts').select('credit_balance').where('id', '=', p.accountId),
);

export async function readBalance(db: DbOrTrx, accountId: string): Promise<number | undefined> {
  const { rows } = await readBalanceQuery(db, { accountId });
  return rows[0]?.credit_balance;
}

/** Balances read on SQLite at one database version (DatabaseHandle.version), by account. */
interface BalanceCache {
  version: number;
  balances: Map<string, number>;
}
const balanceCaches = new WeakMap<DatabaseHandle, BalanceCache>();
/** Accounts kept at one version, at most; more, and the cache starts again. */
const CACHED_BALANCES = 10_000;

/**
 * The same read outside any transaction, answered at once on SQLite when the connection is
 * free (DatabaseHandle.readNow): the `credits` field then resolves without a promise, the
 * hottest read there is. Through Kysely otherwise.
 *
 * On SQLite a balance read at the database's current version is answered again without a read
 * while the version holds: every read outside a transaction takes and drops SQLite's lock on
 * the file (two system calls) and costs about a tenth of a `credits` request. The version moves
 * at every write of this process, so a debit, refund or grant made here is seen by the very
 * next read; a grant by the operator command line is seen from the next turn of the event loop.
 */
export function readBalanceNow(database: DatabaseHandle, accountId: string): number | undefined | Promise<number | undefined> {
  if (!database.readNow || !database.version) return readBalance(database.db, accountId);
  const version = database.version();
  let cache = balanceCaches.get(database);
  if (!cache || cache.version !== version || cache.balances.size >= CACHED_BALANCES) {
    cache = { version, balances: new Map() };
    balanceCaches.set(database, cache);
  }
  const cached = cache.balances.get(accountId);
  if (cached !== undefined) return cached;
  const rows = database.readNow(readBalanceQuery.bind(database.db, { accountId }));
  if (!rows) return readBalance(database.db, accountId);
  const balance = rows[0]?.credit_balance;
  if (balance !== undefined) cache.balances.set(accountId, balance);
  return balance;
}

/**
 * `credit_balance = credit_balance - cost WHERE credit_balance >= cost`: the new balance (and
 * the account's low-balance threshold), or undefined when the balance was too low (then nothing
 * changed). Concurrent debits queue on the row lock and each re-checks the condition, so the
 * balance never goes below zero.
 */
export async function debitBalance(db: DbOrTrx, accountId: string, cost: number) {
  const { rows } = await debitBalanceQuery(db, { accountId, cost });
  return rows[0];
}

const debitBalanceQuery = preparedQuery<{ accountId: string; cost: number }, { balance: number; lowBalanceThreshold: number | null }>(
  ['accountId', 'cost'],
  (db, p) =>
    db
      .updateTable('accounts')
      .set((eb) => ({ credit_balance: eb('credit_balance', '-', p.cost) }))
      .where('id', '=', p.accountId)
      .where('credit_balance', '>=', p.cost)
      .returning(['credit_balance as balance', 'low_balance_threshold as lowBalanceThreshold']),
);

/**
 * Adds `amount` (negative for a correction) unless the result would be negative: the new
 * balance, or undefined when the account does not exist or would go below zero.
 */
export async function addToBalance(db: DbOrTrx, accountId: string, amount: number): Promise<number | undefined> {
  const row = await db
    .updateTable('accounts')
    .set((eb) => ({ credit_balance: eb('credit_balance', '+', amount) }))
    .where('id', '=', accountId)
    .where('credit_balance', '>=', -amount)
    .returning('credit_balance')
    .executeTakeFirst();
  return row?.credit_balance;
}

export interface LedgerEntryInput {
  accountId: string;
  amount: number;
  balanceAfter: number;
  kind: LedgerKind;
  reason: string;
  /** `operator`, `session:<id>`, `api_key:<id>` or `system`: never a secret. */
  actor: string;
  keyId?: string | null;
  jobId?: string | null;
  claimCodeId?: string | null;
  at: number;
}

export async function insertLedgerEntry(db: DbOrTrx, entry: LedgerEntryInput): Promise<string> {
  const id = newId('cle', entry.at);
  await insertLedgerQuery(db, {
    id,
    account_id: entry.accountId,
    amount: entry.amount,
    balance_after: entry.balanceAfter,
    kind: entry.kind,
    reason: entry.reason,
    actor: entry.actor,
    key_id: entry.keyId ?? null,
    job_id: entry.jobId ?? null,
    claim_code_id: entry.claimCodeId ?? null,
    created_at: entry.at,
  });
  return id;
}

const insertLedgerQuery = preparedQuery<CreditLedgerTable & Record<string, unknown>, never>(
  ['id', 'account_id', 'amount', 'balance_after', 'kind', 'reason', 'actor', 'key_id', 'job_id', 'claim_code_id', 'created_at'],
  (db, row) => db.insertInto('credit_ledger').values(row),
);

export function listLedgerEntries(db: DbOrTrx, accountId: string, limit: number, afterId: string | null) {
  let query = db.selectFrom('credit_ledger').selectAll().where('account_id', '=', accountId);
  if (afterId) query = query.where('id', '<', afterId);
  return query.orderBy('id', 'desc').limit(limit + 1).execute();
}

export interface LedgerMismatch {
  accountId: string;
  balance: number;
  ledgerSum: number;
}

/** Accounts whose balance is not the sum of their ledger, or is negative. Empty when all is well. */
export async function findLedgerMismatches(db: DbOrTrx): Promise<LedgerMismatch[]> {
  const rows = await db
    .selectFrom('accounts')
    .leftJoin('credit_ledger', 'credit_ledger.account_id', 'accounts.id')
    .select((eb) => [
      'accounts.id as accountId',
      'accounts.credit_balance as balance',
      eb.fn.coalesce(eb.fn.sum<number>('credit_ledger.amount'), sql<number>`0`).as('ledgerSum'),
    ])
    .groupBy(['accounts.id', 'accounts.credit_balance'])
    .execute();
  return rows
    .map((r) => ({ accountId: r.accountId, balance: Number(r.balance), ledgerSum: Number(r.ledgerSum) }))
    .filter((r) => r.balance !== r.ledgerSum || r.balance < 0);
}

export async function countAccounts(db: DbOrTrx): Promise<number> {
  const row = await db.selectFrom('accounts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Claim codes redeemed more often than allowed, or whose counter disagrees with their redemptions. */
export async function findClaimCodeMismatches(db: DbOrTrx) {
  const rows = await db
    .selectFrom('claim_codes')
    .leftJoin('claim_redemptions', 'claim_redemptions.claim_code_id', 'claim_codes.id')
    .select((eb) => [
      'claim_codes.id as claimCodeId',
      'claim_codes.redemptions as redemptions',
      'claim_codes.max_redemptions as maxRedemptions',
      eb.fn.count<number>('claim_redemptions.account_id').as('redeemed'),
    ])
    .groupBy(['claim_codes.id', 'claim_codes.redemptions', 'claim_codes.max_redemptions'])
    .execute();
  return rows
    .map((r) => ({ claimCodeId: r.claimCodeId, redemptions: Number(r.redemptions), maxRedemptions: Number(r.maxRedemptions), redeemed: Number(r.redeemed) }))
    .filter((r) => r.redemptions !== r.redeemed || r.redemptions > r.maxRedemptions);
}

export function findAccountIdByEmail(db: DbOrTrx, email: string) {
  return db.selectFrom('accounts').select('id').where('email', '=', email).executeTakeFirst();
}

/** The account's active LIVE keys that have a webhook: `credits.low` goes to each that subscribed. */
export async function liveWebhookKeyIds(db: DbOrTrx, accountId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('webhooks')
    .innerJoin('api_keys', 'api_keys.id', 'webhooks.key_id')
    .select('webhooks.key_id')
    .where('webhooks.account_id', '=', accountId)
    .where('api_keys.account_id', '=', accountId)
    .where('api_keys.environment', '=', 'LIVE')
    .where('api_keys.revoked_at', 'is', null)
    .execute();
  return rows.map((r) => r.key_id);
}

// Claim codes: only a hash of the code is stored.

export function insertClaimCode(
  db: DbOrTrx,
  code: { id: string; codeHash: string; amount: number; maxRedemptions: number; expiresAt: number | null; at: number },
) {
  return db
    .insertInto('claim_codes')
    .values({
      id: code.id,
      code_hash: code.codeHash,
      amount: code.amount,
      max_redemptions: code.maxRedemptions,
      redemptions: 0,
      expires_at: code.expiresAt,
      created_at: code.at,
    })
    .execute();
}

export function findClaimCodeByHash(db: DbOrTrx, codeHash: string) {
  return db.selectFrom('claim_codes').selectAll().where('code_hash', '=', codeHash).executeTakeFirst();
}

/** The account's one redemption of the code; false when it has redeemed it already. */
export async function insertClaimRedemption(db: DbOrTrx, claimCodeId: string, accountId: string, at: number): Promise<boolean> {
  const row = await db
    .insertInto('claim_redemptions')
    .values({ claim_code_id: claimCodeId, account_id: accountId, created_at: at })
    .onConflict((oc) => oc.columns(['claim_code_id', 'account_id']).doNothing())
    .returning('account_id')
    .executeTakeFirst();
  return row !== undefined;
}

/** `redemptions = redemptions + 1` while below the limit and unexpired; false when not. */
export async function countClaimRedemption(db: DbOrTrx, claimCodeId: string, at: number): Promise<boolean> {
  const result = await db
    .updateTable('claim_codes')
    .set((eb) => ({ redemptions: eb('redemptions', '+', 1) }))
    .where('id', '=', claimCodeId)
    .where((eb) => eb('redemptions', '<', eb.ref('max_redemptions')))
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', at)]))
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}
