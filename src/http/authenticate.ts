// Authentication, once per request, before the body is parsed: an API key (Authorization:
// Bearer or X-Api-Key), else the session cookies, else anonymous. A presented key that is
// not good refuses the whole request; nothing is executed.
import type { VerifiedApiKey } from '../api-keys/api-key-verifier.ts';
import { ipInRanges, requestOrigin } from '../api-keys/restrictions.ts';
import type { RequestState, Viewer } from '../context.ts';
import type { AppDeps } from '../deps.ts';
import { badUserInput, forbidden, rateLimited, requestError, unauthenticated } from '../errors.ts';
import { readSessionCookies, cookieNames } from '../sessions/session-cookies.ts';
import { authenticateAccessCookie } from '../sessions/sessions.service.ts';

const WWW_AUTHENTICATE = { 'WWW-Authenticate': 'Bearer' };

function presentedKey(headers: Headers): string | null {
  const authorization = headers.get('authorization');
  const headerKey = headers.get('x-api-key')?.trim() || null;
  let bearer: string | null = null;
  if (authorization !== null) {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (!match?.[1]) throw requestError(unauthenticated('The Authorization header must be "Bearer <API key>".'), WWW_AUTHENTICATE);
    bearer = match[1];
  }
  if (bearer && headerKey && bearer !== headerKey) {
    throw requestError(badUserInput('Two different API keys were sent (Authorization and X-Api-Key); send one.'));
  }
  return bearer ?? headerKey;
}

const REFUSALS = {
  malformed: 'The API key is malformed (wrong shape or checksum).',
  unknown: 'The API key is not valid.',
  revoked: 'The API key has been revoked.',
  expired: 'The API key has expired.',
} as const;

/** The key's request quota: headers on every keyed response, the whole request refused past it. */
async function enforceRequestLimit(deps: AppDeps, key: VerifiedApiKey, state: RequestState): Promise<void> {
  const decision = await deps.rateLimits.requests.consume(key.id, key.rateLimit);
  Object.assign(state.responseHeaders, decision.headers);
  if (!decision.allowed) {
    const { requests, windowSeconds } = decision.limit;
    throw requestError(
      rateLimited(decision.resetSeconds, `This API key may make ${requests} requests per ${windowSeconds} s. Retry after ${decision.resetSeconds} s.`),
      { 'Retry-After': String(decision.resetSeconds) },
    );
  }
}

export async function authenticate(deps: AppDeps, request: Request, url: URL, state: RequestState): Promise<Viewer> {
  if (url.searchParams.has('api_key') || url.searchParams.has('key')) {
    throw requestError(badUserInput('API keys are never read from the URL: send it in the Authorization or X-Api-Key header.'));
  }
  const key = presentedKey(request.headers);
  const names = cookieNames(deps.config.secureCookies);
  const cookies = readSessionCookies(request.headers.get('cookie'), names);
  state.hasSessionCookie = cookies.access !== undefined || cookies.refresh !== undefined;
  state.refreshCookie = cookies.refresh;
  state.csrfHeader = request.headers.get('x-keyscope-csrf') === '1';

  if (key !== null) {
    const result = await deps.keys.verify(key);
    if (!result.ok) throw requestError(unauthenticated(REFUSALS[result.reason]), WWW_AUTHENTICATE);
    const apiKey = result.key;
    if (apiKey.allowedIps.length > 0 && !ipInRanges(state.clientIp, apiKey.allowedIps)) {
      throw requestError(forbidden('This API key may not be used from this IP address.', { reason: 'ip_not_allowed' }));
    }
    if (apiKey.allowedReferrers.length > 0) {
      const origin = requestOrigin(request.headers);
      if (!origin || !apiKey.allowedReferrers.includes(origin)) {
        throw requestError(forbidden('This API key may not be used from this origin.', { reason: 'referrer_not_allowed' }));
      }
    }
    deps.lastUsed.note(apiKey.id, deps.clock.now(), state.clientIp);
    await enforceRequestLimit(deps, apiKey, state);
    return { kind: 'apiKey', accountId: apiKey.accountId, key: apiKey };
  }
  if (cookies.access) {
    const session = await authenticateAccessCookie(deps, cookies.access);
    if (session) return { kind: 'session', accountId: session.accountId, sessionId: session.sessionId };
  }
  return { kind: 'anonymous' };
}
