// Who is calling, decided once per request (see http/authenticate.ts), and the per-request
// state that resolvers, the permission map and the response plugins share.
import type { VerifiedApiKey } from './api-keys/api-key-verifier.ts';
import type { AppDeps } from './deps.ts';

export type Viewer =
  | { kind: 'anonymous' }
  | { kind: 'session'; accountId: string; sessionId: string }
  | { kind: 'apiKey'; accountId: string; key: VerifiedApiKey };

export interface CreditsReport {
  charged: number;
  remaining: number;
  /** What TEST calls would have cost in LIVE. */
  cost: number;
}

export interface RequestState {
  requestId: string;
  startedAt: number;
  /** The client address, after trusted-proxy resolution. */
  clientIp: string;
  viewer: Viewer;
  /** The request carried a Keyscope session cookie (valid or not): mutations need the CSRF header. */
  hasSessionCookie: boolean;
  /** The refresh cookie as presented, for `refreshSession` only. */
  refreshCookie: string | undefined;
  csrfHeader: boolean;
  setCookies: string[];
  responseHeaders: Record<string, string>;
  credits: CreditsReport | null;
  cost: { requested: number; remaining: number } | null;
  operationName: string | null;
  /** The result carried at least one error (counted as an error in usage even with HTTP 200). */
  hadErrors: boolean;
}

export interface GraphQLContext {
  request: Request;
  state: RequestState;
  app: AppDeps;
}

const states = new WeakMap<Request, RequestState>();

export function attachRequestState(request: Request, state: RequestState): void {
  states.set(request, state);
}

export function requestStateOf(request: Request): RequestState | undefined {
  return states.get(request);
}
