// Credits: operator grants and corrections, claim codes, balances, the ledger and its
// consistency check. Every balance change is a relative UPDATE plus its ledger row in one
// transaction; see metering.service.ts for debits.
import { insertAuditEvent } from '../audit/audit.queries.ts';
import type { RequestState } from '../context.ts';
import type { Environment } from '../db/database.ts';
import type { AppDeps } from '../deps.ts';
import { badUserInput, conflict, notFound } from '../errors.ts';
import { newId, randomBase62, sha256 } from '../ids.ts';
import { type Page, type PageArgs, pageWindow, toPage } from '../schema/pagination.ts';
import {
  type LedgerEntry,
  type LedgerMismatch,
  addToBalance,
  countAccounts,
  countClaimRedemption,
  findAccountIdByEmail,
  findClaimCodeByHash,
  findClaimCodeMismatches,
  findLedgerMismatches,
  insertClaimCode,
  insertClaimRedemption,
  insertLedgerEntry,
  ledgerRowToEntry,
  listLedgerEntries,
  readBalanceNow,
} from './credits.queries.ts';

/** What the operator command line has of the app: a database and a clock. */
export type LedgerDeps = Pick<AppDeps, 'db' | 'clock'>;

/** Largest single grant, claim code or correction: keeps every balance far below 2^53. */
export const MAX_CREDIT_AMOUNT = 1_000_000_000;
const CLAIM_CODE_PREFIX = 'ksc_';

function checkAmount(amount: number, { allowNegative }: { allowNegative: boolean }): number {
  if (!Number.isSafeInteger(amount) || amount === 0 || Math.abs(amount) > MAX_CREDIT_AMOUNT || (!allowNegative && amount < 0)) {
    throw badUserInput(`The amount must be a${allowNegative ? ' non-zero' : ' positive'} whole number up to ${MAX_CREDIT_AMOUNT}.`, { field: 'amount' });
  }
  return amount;
}

export interface CreditBalance {
  balance: number;
  environment: Environment;
}

/**
 * The account's balance. Credits exist in LIVE only; a TEST key sees the same LIVE balance
 * labelled TEST, as a reminder that its own calls never draw on it.
 */
export function getCreditBalance(deps: AppDeps, accountId: string, environment: Environment): CreditBalance | Promise<CreditBalance> {
  const labelled = (balance: number | undefined): CreditBalance => {
    if (balance === undefined) throw notFound('Account');
    return { balance, environment };
  };
  // Synchronous when SQLite can answer at once: the hot `credits` field then needs no promise.
  const balance = readBalanceNow(deps.database, accountId);
  return balance instanceof Promise ? balance.then(labelled) : labelled(balance);
}

export async function listLedger(deps: AppDeps, accountId: string, args: PageArgs): Promise<Page<LedgerEntry>> {
  const { limit, afterId } = pageWindow(args);
  const rows = await listLedgerEntries(deps.db, accountId, limit, afterId);
  return toPage(rows.map(ledgerRowToEntry), limit, (e) => e.id);
}

/**
 * Operator grant (`amount` > 0) or correction (either sign, never below zero). Corrections
 * are new ledger entries: nothing in the ledger is ever edited.
 */
export async function grantCredits(
  deps: LedgerDeps,
  input: { email: string; amount: number; reason?: string | null; kind?: 'grant' | 'correction' },
): Promise<{ accountId: string; balance: number; ledgerEntryId: string }> {
  const kind = input.kind ?? 'grant';
  const amount = checkAmount(input.amount, { allowNegative: kind === 'correction' });
  const reason = input.reason?.trim() || (kind === 'grant' ? 'operator grant' : '');
  if (!reason) throw badUserInput('A correction needs a reason.', { field: 'reason' });
  const account = await findAccountIdByEmail(deps.db, input.email.trim().toLowerCase());
  if (!account) throw notFound('Account with this email');
  const at = deps.clock.now();
  return deps.db.transaction().execute(async (trx) => {
    const balance = await addToBalance(trx, account.id, amount);
    if (balance === undefined) throw badUserInput('The correction would make the balance negative.', { field: 'amount' });
    const ledgerEntryId = await insertLedgerEntry(trx, { accountId: account.id, amount, balanceAfter: balance, kind, reason, actor: 'operator', at });
    await insertAuditEvent(trx, {
      accountId: account.id,
      actorType: 'operator',
      actorId: null,
      action: kind === 'grant' ? 'credits.granted' : 'credits.corrected',
      targetType: 'credit_ledger',
      targetId: ledgerEntryId,
      metadata: { amount, reason, balance },
      at,
    });
    return { accountId: account.id, balance, ledgerEntryId };
  });
}

export function hashClaimCode(code: string): string {
  return sha256(`claim-code:${code.trim()}`);
}

/** A new claim code. The code itself is returned here only; the database keeps its hash. */
export async function createClaimCode(
  deps: LedgerDeps,
  input: { amount: number; maxRedemptions?: number; expiresAt?: number | null },
): Promise<{ id: string; code: string; amount: number; maxRedemptions: number; expiresAt: number | null }> {
  const amount = checkAmount(input.amount, { allowNegative: false });
  const maxRedemptions = input.maxRedemptions ?? 1;
  if (!Number.isSafeInteger(maxRedemptions) || maxRedemptions < 1 || maxRedemptions > 1_000_000) {
    throw badUserInput('max-redemptions must be a whole number from 1 to 1000000.', { field: 'maxRedemptions' });
  }
  const at = deps.clock.now();
  const expiresAt = input.expiresAt ?? null;
  if (expiresAt !== null && expiresAt <= at) throw badUserInput('The expiry must be in the future.', { field: 'expiresAt' });
  // 24 base62 characters: 142 bits, so the unsalted hash cannot be reversed by guessing.
  const code = `${CLAIM_CODE_PREFIX}${randomBase62(24)}`;
  const id = newId('clc', at);
  await insertClaimCode(deps.db, { id, codeHash: hashClaimCode(code), amount, maxRedemptions, expiresAt, at });
  return { id, code, amount, maxRedemptions, expiresAt };
}

const INVALID_CODE = 'This claim code is not valid.';

/**
 * Redeems a claim code for the account: once per account (the claim_redemptions primary key)
 * and never past its limit (a conditional relative UPDATE of the counter), in one transaction.
 */
export async function claimCredits(deps: AppDeps, state: RequestState, accountId: string, code: string): Promise<{ balance: number }> {
  const trimmed = code.trim();
  if (!trimmed.startsWith(CLAIM_CODE_PREFIX) || trimmed.length > 100) throw badUserInput(INVALID_CODE, { field: 'code' });
  const claim = await findClaimCodeByHash(deps.db, hashClaimCode(trimmed));
  if (!claim) throw badUserInput(INVALID_CODE, { field: 'code' });
  const at = deps.clock.now();
  if (claim.expires_at !== null && claim.expires_at <= at) throw badUserInput('This claim code has expired.', { field: 'code' });
  const sessionId = state.viewer.kind === 'session' ? state.viewer.sessionId : null;
  return deps.db.transaction().execute(async (trx) => {
    if (!(await insertClaimRedemption(trx, claim.id, accountId, at))) {
      throw conflict('This account has already claimed this code.');
    }
    if (!(await countClaimRedemption(trx, claim.id, at))) {
      throw badUserInput('This claim code has been fully redeemed or has expired.', { field: 'code' });
    }
    const balance = await addToBalance(trx, accountId, claim.amount);
    if (balance === undefined) throw notFound('Account');
    const ledgerEntryId = await insertLedgerEntry(trx, {
      accountId,
      amount: claim.amount,
      balanceAfter: balance,
      kind: 'claim',
      reason: 'claim code',
      actor: sessionId ? `session:${sessionId}` : 'session',
      claimCodeId: claim.id,
      at,
    });
    await insertAuditEvent(trx, {
      accountId,
      actorType: 'session',
      actorId: sessionId,
      action: 'credits.claimed',
      targetType: 'credit_ledger',
      targetId: ledgerEntryId,
      ip: state.clientIp,
      metadata: { amount: claim.amount, claimCodeId: claim.id, balance },
      at,
    });
    return { balance };
  });
}

export interface LedgerCheck {
  ok: boolean;
  accounts: number;
  mismatches: LedgerMismatch[];
  claimCodeMismatches: Awaited<ReturnType<typeof findClaimCodeMismatches>>;
}

/** Proves that every balance equals the sum of its ledger and no claim code is over-redeemed. */
export async function checkLedger(deps: Pick<AppDeps, 'db'>): Promise<LedgerCheck> {
  const [accounts, mismatches, claimCodeMismatches] = await Promise.all([
    countAccounts(deps.db),
    findLedgerMismatches(deps.db),
    findClaimCodeMismatches(deps.db),
  ]);
  return { ok: mismatches.length === 0 && claimCodeMismatches.length === 0, accounts, mismatches, claimCodeMismatches };
}
