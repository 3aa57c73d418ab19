// Accounts: registration, sign-in, email verification and password reset.
import { insertAuditEvent } from '../audit/audit.queries.ts';
import type { AccountTokensTable } from '../db/database.ts';
import type { AppDeps } from '../deps.ts';
import { badUserInput, conflict, unauthenticated } from '../errors.ts';
import { hmacSha256, newId, randomToken } from '../ids.ts';
import { logEvent } from '../http/logger.ts';
import { revokeAccountSessions } from '../sessions/sessions.queries.ts';
import { startSession } from '../sessions/sessions.service.ts';
import {
  type Account,
  accountRowToAccount,
  consumeAccountToken,
  findAccountByEmail,
  findAccountById,
  insertAccount,
  insertAccountToken,
  markEmailVerified,
  setPasswordHash,
  voidAccountTokens,
} from './accounts.queries.ts';
import { burnPasswordCheck, checkPasswordRules, hashPassword, verifyPassword } from './passwords.ts';

const VERIFY_TTL_MS = 24 * 60 * 60 * 1000;
const RESET_TTL_MS = 60 * 60 * 1000;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function normaliseEmail(email: string): string {
  const value = email.trim().toLowerCase();
  if (value.length > 254 || !EMAIL.test(value)) throw badUserInput('That is not an email address.', { field: 'email' });
  return value;
}

function tokenHash(deps: AppDeps, token: string): string {
  return hmacSha256(deps.config.serverSecret, `account-token:${token}`);
}

async function issueAccountToken(deps: AppDeps, accountId: string, purpose: AccountTokensTable['purpose'], ttl: number): Promise<string> {
  const token = randomToken(32);
  const at = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    await voidAccountTokens(trx, accountId, purpose, at);
    await insertAccountToken(trx, { token_hash: tokenHash(deps, token), account_id: accountId, purpose, created_at: at, expires_at: at + ttl, used_at: null });
  });
  return token;
}

async function sendMail(deps: AppDeps, to: string, subject: string, text: string): Promise<void> {
  try {
    await deps.mailer.send({ to, subject, text });
  } catch (error) {
    // The account action stands; the user can ask for the mail again.
    logEvent('mail_failed', { error: error instanceof Error ? error.name : 'unknown' });
  }
}

async function sendVerificationEmail(deps: AppDeps, accountId: string, email: string): Promise<void> {
  const token = await issueAccountToken(deps, accountId, 'verify_email', VERIFY_TTL_MS);
  const link = `${deps.config.publicUrl}/verify-email?token=${token}`;
  await sendMail(deps, email, 'Verify your Keyscope email', `Welcome to Keyscope.\n\nConfirm your email address:\n${link}\n\nThe link is valid for 24 hours.\n`);
}

export async function getAccount(deps: AppDeps, accountId: string): Promise<Account> {
  const row = await findAccountById(deps.db, accountId);
  if (!row) throw unauthenticated();
  return accountRowToAccount(row);
}

export async function register(deps: AppDeps, input: { email: string; password: string }, ip: string) {
  await deps.rateLimits.accounts.registration(ip);
  const email = normaliseEmail(input.email);
  checkPasswordRules(input.password);
  const passwordHash = await hashPassword(input.password);
  const at = deps.clock.now();
  const accountId = newId('acct', at);
  const { cookies } = await deps.db.transaction().execute(async (trx) => {
    if (await findAccountByEmail(trx, email)) throw conflict('An account with this email already exists.');
    await insertAccount(trx, { id: accountId, email, passwordHash, at });
    await insertAuditEvent(trx, { accountId, actorType: 'session', actorId: null, action: 'account.registered', targetType: 'account', targetId: accountId, ip, at });
    return startSession(deps, trx, accountId, ip);
  });
  await sendVerificationEmail(deps, accountId, email);
  return { account: await getAccount(deps, accountId), cookies };
}

const BAD_LOGIN = 'The email or password is incorrect.';

export async function login(deps: AppDeps, input: { email: string; password: string }, ip: string) {
  let email: string | null;
  try {
    email = normaliseEmail(input.email);
  } catch {
    email = null;
  }
  // Counted before the password is checked, so concurrent guesses (aliases) cannot slip past.
  const attempt = await deps.rateLimits.accounts.signIn(email ?? input.email.slice(0, 254), ip);
  const row = email === null ? undefined : await findAccountByEmail(deps.db, email);
  if (!row) {
    await burnPasswordCheck(input.password);
    throw unauthenticated(BAD_LOGIN);
  }
  if (!(await verifyPassword(row.password_hash, input.password))) {
    await insertAuditEvent(deps.db, { accountId: row.id, actorType: 'session', actorId: null, action: 'login.failed', ip, at: deps.clock.now() });
    throw unauthenticated(BAD_LOGIN);
  }
  await attempt.succeeded();
  const at = deps.clock.now();
  const { sessionId, cookies } = await deps.db.transaction().execute(async (trx) => {
    const session = await startSession(deps, trx, row.id, ip);
    await insertAuditEvent(trx, { accountId: row.id, actorType: 'session', actorId: session.sessionId, action: 'login', targetType: 'session', targetId: session.sessionId, ip, at });
    return session;
  });
  return { account: accountRowToAccount(row), cookies, sessionId };
}

export async function verifyEmail(deps: AppDeps, token: string, ip: string) {
  const attempt = await deps.rateLimits.accounts.tokenRedemption(ip);
  const at = deps.clock.now();
  const accountId = await deps.db.transaction().execute(async (trx) => {
    const id = await consumeAccountToken(trx, tokenHash(deps, token), 'verify_email', at);
    if (id) {
      await markEmailVerified(trx, id, at);
      await insertAuditEvent(trx, { accountId: id, actorType: 'system', actorId: null, action: 'email.verified', targetType: 'account', targetId: id, at });
    }
    return id;
  });
  if (!accountId) throw badUserInput('This verification link is invalid, used or expired. Ask for a new one.', { field: 'token' });
  await attempt.succeeded();
  return getAccount(deps, accountId);
}

/** Sends a new verification link if the account exists and is unverified; the answer never says which. */
export async function resendVerificationEmail(deps: AppDeps, email: string, ip: string): Promise<void> {
  const normalised = normaliseEmail(email);
  await deps.rateLimits.accounts.emailRequest(normalised, ip);
  const row = await findAccountByEmail(deps.db, normalised);
  if (row && row.email_verified_at === null) await sendVerificationEmail(deps, row.id, row.email);
}

/** Same answer whether or not the email has an account. */
export async function requestPasswordReset(deps: AppDeps, email: string, ip: string): Promise<void> {
  let normalised: string | null;
  try {
    normalised = normaliseEmail(email);
  } catch {
    normalised = null;
  }
  await deps.rateLimits.accounts.emailRequest(normalised, ip);
  if (normalised === null) return;
  const row = await findAccountByEmail(deps.db, normalised);
  if (!row) return;
  const token = await issueAccountToken(deps, row.id, 'reset_password', RESET_TTL_MS);
  const link = `${deps.config.publicUrl}/reset-password?token=${token}`;
  await sendMail(deps, row.email, 'Reset your Keyscope password', `Someone asked to reset the password of this Keyscope account.\n\nChoose a new password:\n${link}\n\nThe link is valid for one hour. If it was not you, ignore this email.\n`);
}

/** Sets a new password and ends every session of the account. */
export async function resetPassword(deps: AppDeps, input: { token: string; password: string }, ip: string): Promise<void> {
  checkPasswordRules(input.password);
  const attempt = await deps.rateLimits.accounts.tokenRedemption(ip);
  const passwordHash = await hashPassword(input.password);
  const at = deps.clock.now();
  const accountId = await deps.db.transaction().execute(async (trx) => {
    const id = await consumeAccountToken(trx, tokenHash(deps, input.token), 'reset_password', at);
    if (!id) return undefined;
    await setPasswordHash(trx, id, passwordHash);
    await revokeAccountSessions(trx, id, 'password_reset', at);
    await insertAuditEvent(trx, { accountId: id, actorType: 'system', actorId: null, action: 'password.reset', targetType: 'account', targetId: id, ip, at });
    return id;
  });
  if (!accountId) throw badUserInput('This reset link is invalid, used or expired. Ask for a new one.', { field: 'token' });
  await attempt.succeeded();
}
