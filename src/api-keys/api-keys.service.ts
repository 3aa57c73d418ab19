// API key lifecycle, for dashboard sessions. Every write evicts the key from the
// verifier's cache after it commits, so the change holds from the very next request.
import { findAccountById } from '../accounts/accounts.queries.ts';
import { insertAuditEvent } from '../audit/audit.queries.ts';
import type { RequestState } from '../context.ts';
import type { Transaction } from 'kysely';
import type { ApiKeysTable, Database, Environment, Scope } from '../db/database.ts';
import type { AppDeps } from '../deps.ts';
import { badUserInput, conflict, forbidden, notFound } from '../errors.ts';
import { newId } from '../ids.ts';
import { type Page, type PageArgs, pageWindow, toPage } from '../schema/pagination.ts';
import { displayPrefix, generateApiKey } from './api-key-format.ts';
import {
  type ApiKey,
  announceApiKeyChange,
  apiKeyRowToApiKey,
  capApiKeySecrets,
  findApiKey,
  insertApiKey,
  insertApiKeySecret,
  listApiKeys as listApiKeyRows,
  markApiKeyRevoked,
  updateApiKeyRow,
} from './api-keys.queries.ts';
import { enqueueWebhookEvent } from '../webhooks/webhook-outbox.ts';
import { type RestrictionsInput, parseRestrictions } from './restrictions.ts';

export const MAX_GRACE_PERIOD_SECONDS = 7 * 24 * 60 * 60;

export interface RateLimitInput {
  requests: number;
  windowSeconds: number;
}

export interface CreateApiKeyInput {
  name: string;
  scope: Scope;
  environment: Environment;
  expiresAt?: Date | null;
  restrictions?: RestrictionsInput | null;
  rateLimit?: RateLimitInput | null;
}

function checkName(name: string): string {
  const value = name.trim();
  if (value.length < 1 || value.length > 100) throw badUserInput('The name must be 1 to 100 characters.', { field: 'name' });
  return value;
}

function checkRateLimit(rateLimit: RateLimitInput | null | undefined): RateLimitInput | null {
  if (!rateLimit) return null;
  const { requests, windowSeconds } = rateLimit;
  if (!Number.isInteger(requests) || requests < 1 || requests > 1_000_000) {
    throw badUserInput('rateLimit.requests must be between 1 and 1000000.', { field: 'rateLimit.requests' });
  }
  if (!Number.isInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > 86_400) {
    throw badUserInput('rateLimit.windowSeconds must be between 1 and 86400.', { field: 'rateLimit.windowSeconds' });
  }
  return { requests, windowSeconds };
}

function audit(state: RequestState, accountId: string, action: string, keyId: string, at: number, metadata: Record<string, unknown> = {}) {
  const sessionId = state.viewer.kind === 'session' ? state.viewer.sessionId : null;
  return { accountId, actorType: 'session' as const, actorId: sessionId, action, targetType: 'api_key', targetId: keyId, ip: state.clientIp, metadata, at };
}

/**
 * Runs a write to one key in a transaction, then makes it hold everywhere before answering:
 * this instance's cache evicts the key, and on PostgreSQL the answer waits until the change's
 * announcement has reached this instance, which PostgreSQL delivers to every instance at once.
 */
async function writeApiKey<T>(deps: AppDeps, keyId: string, write: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  const announcement = deps.keys.expectAnnouncement(keyId);
  let result: T;
  try {
    result = await deps.db.transaction().execute(async (trx) => {
      const value = await write(trx);
      await announceApiKeyChange(trx, keyId);
      return value;
    });
  } catch (error) {
    announcement.cancel();
    throw error;
  }
  deps.keys.invalidate(keyId);
  await announcement.wait();
  return result;
}

export async function getApiKey(deps: AppDeps, accountId: string, keyId: string): Promise<ApiKey> {
  const row = await findApiKey(deps.db, accountId, keyId);
  if (!row) throw notFound('API key');
  return apiKeyRowToApiKey(row);
}

export async function listApiKeys(
  deps: AppDeps,
  accountId: string,
  args: PageArgs & { environment?: Environment | null; includeRevoked?: boolean | null },
): Promise<Page<ApiKey>> {
  const { limit, afterId } = pageWindow(args);
  const rows = await listApiKeyRows(deps.db, accountId, {
    environment: args.environment ?? null,
    includeRevoked: args.includeRevoked ?? false,
    limit,
    afterId,
  });
  return toPage(rows.map(apiKeyRowToApiKey), limit, (k) => k.id);
}

export async function createApiKey(deps: AppDeps, state: RequestState, accountId: string, input: CreateApiKeyInput) {
  const name = checkName(input.name);
  const at = deps.clock.now();
  if (input.expiresAt && input.expiresAt.getTime() <= at) throw badUserInput('expiresAt must be in the future.', { field: 'expiresAt' });
  const restrictions = parseRestrictions(input.restrictions, deps.rootFieldNames);
  const rateLimit = checkRateLimit(input.rateLimit);
  if (input.environment === 'LIVE') {
    const account = await findAccountById(deps.db, accountId);
    if (!account?.email_verified_at) {
      throw forbidden('LIVE keys need a verified email: follow the link in the verification email first.', { reason: 'email_unverified' });
    }
  }
  const secret = generateApiKey(input.environment);
  const keyId = newId('key', at);
  const row: ApiKeysTable = {
    id: keyId,
    account_id: accountId,
    name,
    prefix: displayPrefix(secret),
    scope: input.scope,
    environment: input.environment,
    created_at: at,
    updated_at: at,
    last_used_at: null,
    last_used_ip: null,
    expires_at: input.expiresAt ? input.expiresAt.getTime() : null,
    revoked_at: null,
    allowed_ips: JSON.stringify(restrictions.allowedIps),
    allowed_referrers: JSON.stringify(restrictions.allowedReferrers),
    allowed_operations: JSON.stringify(restrictions.allowedOperations),
    rate_limit_requests: rateLimit?.requests ?? null,
    rate_limit_window_seconds: rateLimit?.windowSeconds ?? null,
    expiring_notified_at: null,
  };
  await deps.db.transaction().execute(async (trx) => {
    await insertApiKey(trx, row);
    await insertApiKeySecret(trx, { hash: deps.keys.hash(secret), keyId, at });
    await insertAuditEvent(trx, audit(state, accountId, 'api_key.created', keyId, at, { name, scope: input.scope, environment: input.environment }));
  });
  return { apiKey: apiKeyRowToApiKey(row), secret };
}

export async function updateApiKey(
  deps: AppDeps,
  state: RequestState,
  accountId: string,
  input: { id: string; name?: string | null; restrictions?: RestrictionsInput | null; rateLimit?: RateLimitInput | null; clearRateLimit?: boolean | null },
) {
  const changes: Partial<ApiKeysTable> = {};
  if (input.name !== undefined && input.name !== null) changes.name = checkName(input.name);
  if (input.restrictions) {
    const restrictions = parseRestrictions(input.restrictions, deps.rootFieldNames);
    if (input.restrictions.allowedIps) changes.allowed_ips = JSON.stringify(restrictions.allowedIps);
    if (input.restrictions.allowedReferrers) changes.allowed_referrers = JSON.stringify(restrictions.allowedReferrers);
    if (input.restrictions.allowedOperations) changes.allowed_operations = JSON.stringify(restrictions.allowedOperations);
  }
  if (input.rateLimit) {
    const rateLimit = checkRateLimit(input.rateLimit);
    changes.rate_limit_requests = rateLimit?.requests ?? null;
    changes.rate_limit_window_seconds = rateLimit?.windowSeconds ?? null;
  } else if (input.clearRateLimit) {
    changes.rate_limit_requests = null;
    changes.rate_limit_window_seconds = null;
  }
  const at = deps.clock.now();
  await writeApiKey(deps, input.id, async (trx) => {
    const existing = await findApiKey(trx, accountId, input.id);
    if (!existing) throw notFound('API key');
    if (existing.revoked_at !== null) throw conflict('This key is revoked; it can no longer be changed.');
    await updateApiKeyRow(trx, accountId, input.id, { ...changes, updated_at: at });
    await insertAuditEvent(trx, audit(state, accountId, 'api_key.updated', input.id, at, { fields: Object.keys(changes) }));
  });
  return getApiKey(deps, accountId, input.id);
}

/** Revokes at once; revoking an already revoked key answers with it unchanged. */
export async function revokeApiKey(deps: AppDeps, state: RequestState, accountId: string, keyId: string) {
  const at = deps.clock.now();
  await writeApiKey(deps, keyId, async (trx) => {
    const existing = await findApiKey(trx, accountId, keyId);
    if (!existing) throw notFound('API key');
    if (await markApiKeyRevoked(trx, accountId, keyId, at)) {
      await insertAuditEvent(trx, audit(state, accountId, 'api_key.revoked', keyId, at, { name: existing.name }));
      await enqueueWebhookEvent(trx, {
        accountId,
        keyId,
        environment: existing.environment,
        type: 'key.revoked',
        data: { keyId, name: existing.name, prefix: existing.prefix, revokedAt: new Date(at).toISOString() },
        at,
      });
    }
  });
  return getApiKey(deps, accountId, keyId);
}

/** A new secret for the same key; older secrets stop at now + grace (never later than they already would). */
export async function rollApiKey(deps: AppDeps, state: RequestState, accountId: string, input: { id: string; gracePeriodSeconds: number }) {
  const grace = input.gracePeriodSeconds;
  if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_PERIOD_SECONDS) {
    throw badUserInput(`gracePeriodSeconds must be between 0 and ${MAX_GRACE_PERIOD_SECONDS}.`, { field: 'gracePeriodSeconds' });
  }
  const at = deps.clock.now();
  const secret = await writeApiKey(deps, input.id, async (trx) => {
    const existing = await findApiKey(trx, accountId, input.id);
    if (!existing) throw notFound('API key');
    if (existing.revoked_at !== null) throw conflict('This key is revoked; create a new key instead.');
    const fresh = generateApiKey(existing.environment);
    await capApiKeySecrets(trx, input.id, at + grace * 1000);
    await insertApiKeySecret(trx, { hash: deps.keys.hash(fresh), keyId: input.id, at });
    await updateApiKeyRow(trx, accountId, input.id, { prefix: displayPrefix(fresh), updated_at: at });
    await insertAuditEvent(trx, audit(state, accountId, 'api_key.rolled', input.id, at, { gracePeriodSeconds: grace }));
    return fresh;
  });
  return { apiKey: await getApiKey(deps, accountId, input.id), secret };
}
