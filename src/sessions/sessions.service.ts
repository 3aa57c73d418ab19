// Dashboard sessions: a short-lived signed access cookie and a rotating refresh cookie.
// The refresh token is a random value stored hashed; using it marks it used and issues a
// new one. Presenting a used one again means it leaked: the whole session is revoked.
import { insertAuditEvent } from '../audit/audit.queries.ts';
import type { AppDeps } from '../deps.ts';
import type { DbOrTrx } from '../db/database.ts';
import { unauthenticated } from '../errors.ts';
import { constantTimeEqual, hmacSha256, newId, randomToken } from '../ids.ts';
import { ACCESS_TTL_MS, REFRESH_TTL_MS, cookieNames, sessionCookieHeaders } from './session-cookies.ts';
import {
  extendSession,
  findLiveSession,
  findRefreshToken,
  insertRefreshToken,
  insertSession,
  markRefreshTokenUsed,
  revokeSession,
} from './sessions.queries.ts';

function signAccess(deps: AppDeps, sessionId: string, expiresAt: number): string {
  const body = `${sessionId}.${expiresAt.toString(36)}`;
  return `${body}.${hmacSha256(deps.config.serverSecret, `access:${body}`)}`;
}

function refreshHash(deps: AppDeps, token: string): string {
  return hmacSha256(deps.config.serverSecret, `refresh:${token}`);
}

function setCookieHeaders(deps: AppDeps, values: { access: string; refresh: string } | null): string[] {
  return sessionCookieHeaders(cookieNames(deps.config.secureCookies), deps.config.secureCookies, values);
}

async function issueTokens(deps: AppDeps, db: DbOrTrx, sessionId: string, at: number): Promise<string[]> {
  const refresh = randomToken(32);
  await insertRefreshToken(db, { hash: refreshHash(deps, refresh), sessionId, at, expiresAt: at + REFRESH_TTL_MS });
  return setCookieHeaders(deps, { access: signAccess(deps, sessionId, at + ACCESS_TTL_MS), refresh });
}

/** A fresh session (never an old one reused: no fixation). Returns the Set-Cookie headers. */
export async function startSession(deps: AppDeps, db: DbOrTrx, accountId: string, ip: string): Promise<{ sessionId: string; cookies: string[] }> {
  const at = deps.clock.now();
  const sessionId = newId('ses', at);
  await insertSession(db, { id: sessionId, accountId, at, expiresAt: at + REFRESH_TTL_MS, ip });
  return { sessionId, cookies: await issueTokens(deps, db, sessionId, at) };
}

export function clearSessionCookies(deps: AppDeps): string[] {
  return setCookieHeaders(deps, null);
}

/** The session behind a valid, unexpired, unrevoked access cookie. */
export async function authenticateAccessCookie(deps: AppDeps, value: string): Promise<{ sessionId: string; accountId: string } | null> {
  const [sessionId, expiry, signature] = value.split('.');
  if (!sessionId || !expiry || !signature) return null;
  const expected = hmacSha256(deps.config.serverSecret, `access:${sessionId}.${expiry}`);
  if (!constantTimeEqual(signature, expected)) return null;
  const at = deps.clock.now();
  if (Number.parseInt(expiry, 36) <= at) return null;
  const session = await findLiveSession(deps.db, sessionId, at);
  return session ? { sessionId: session.id, accountId: session.account_id } : null;
}

export async function rotateRefreshToken(deps: AppDeps, refresh: string | undefined): Promise<{ accountId: string; cookies: string[] }> {
  if (!refresh) throw unauthenticated('No refresh cookie: sign in again.');
  const hash = refreshHash(deps, refresh);
  const at = deps.clock.now();
  const outcome = await deps.db.transaction().execute(async (trx) => {
    const token = await findRefreshToken(trx, hash);
    if (!token) return { kind: 'unknown' as const };
    const session = await findLiveSession(trx, token.session_id, at);
    if (!session) return { kind: 'ended' as const };
    if (token.used_at !== null || !(await markRefreshTokenUsed(trx, hash, at))) {
      await revokeSession(trx, token.session_id, 'refresh_token_reuse', at);
      return { kind: 'reused' as const };
    }
    if (token.expires_at <= at) return { kind: 'ended' as const };
    await extendSession(trx, session.id, at + REFRESH_TTL_MS);
    return { kind: 'rotated' as const, accountId: session.account_id, cookies: await issueTokens(deps, trx, session.id, at) };
  });
  if (outcome.kind === 'rotated') return outcome;
  if (outcome.kind === 'reused') {
    throw unauthenticated('This refresh cookie was already used; the session has been ended for safety. Sign in again.');
  }
  throw unauthenticated('The session has ended: sign in again.');
}

/** Ends the session on the server and records the logout, in one transaction. */
export async function logout(deps: AppDeps, session: { accountId: string; sessionId: string }, ip: string): Promise<void> {
  const at = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    await revokeSession(trx, session.sessionId, 'logout', at);
    await insertAuditEvent(trx, {
      accountId: session.accountId,
      actorType: 'session',
      actorId: session.sessionId,
      action: 'logout',
      targetType: 'session',
      targetId: session.sessionId,
      ip,
      at,
    });
  });
}
