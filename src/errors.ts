import { GraphQLError, type GraphQLErrorOptions } from 'graphql';

/** The closed list of `extensions.code` values (the contract's "Error codes"). */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  PAYMENT_REQUIRED: 'PAYMENT_REQUIRED',
  RATE_LIMITED: 'RATE_LIMITED',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const errorCodeDescriptions: Record<ErrorCode, string> = {
  UNAUTHENTICATED: 'No valid credentials: the API key is malformed, unknown, revoked or expired, or no session.',
  FORBIDDEN: 'Authenticated, but not allowed: scope, session-only field, key restrictions or a missing CSRF header.',
  PAYMENT_REQUIRED: 'The account has fewer credits than the operation costs; nothing was charged.',
  RATE_LIMITED: 'Too many requests or too much query cost; retry after the advertised delay.',
  BAD_USER_INPUT: 'The input is invalid, or the query exceeds depth, alias, token or cost limits.',
  NOT_FOUND: 'No such object in the caller\u2019s account and environment.',
  CONFLICT: 'The request conflicts with existing state, e.g. an idempotency key reused with different input.',
  INTERNAL_SERVER_ERROR: 'An unexpected failure. Details are logged on the server under the request id, never returned.',
};

/** HTTP status used when an error of this code refuses a whole request. */
export const httpStatusOf: Record<ErrorCode, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  PAYMENT_REQUIRED: 402,
  RATE_LIMITED: 429,
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  INTERNAL_SERVER_ERROR: 500,
};

/**
 * Builds a GraphQLError without capturing a stack trace. Refusals are expected outcomes, not
 * bugs: their stack is never logged nor returned, and capturing one (twice: Error, then
 * GraphQLError itself) costs more than the rest of a refused request put together.
 */
export function graphQLErrorWithoutStack(message: string, options: GraphQLErrorOptions): GraphQLError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new GraphQLError(message, options);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export function keyscopeError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return graphQLErrorWithoutStack(message, { extensions: { code, ...extensions } });
}

export const unauthenticated = (message = 'Authentication required: send an API key or sign in.') =>
  keyscopeError('UNAUTHENTICATED', message);

export const forbidden = (message: string, extensions: { requiredScope?: 'READ' | 'WRITE'; reason?: string } = {}) =>
  keyscopeError('FORBIDDEN', message, extensions);

export const badUserInput = (message: string, extensions: { field?: string } = {}) =>
  keyscopeError('BAD_USER_INPUT', message, extensions);

export const notFound = (what: string) => keyscopeError('NOT_FOUND', `${what} not found.`);

export const conflict = (message: string) => keyscopeError('CONFLICT', message);

export const rateLimited = (retryAfterSeconds: number, message = 'Too many requests.') =>
  keyscopeError('RATE_LIMITED', message, { retryAfter: retryAfterSeconds });

export const paymentRequired = ({ remaining, required }: { remaining: number; required: number }) =>
  keyscopeError('PAYMENT_REQUIRED', `This operation costs ${required} credits; the balance is ${remaining}.`, {
    creditsRemaining: remaining,
    creditsRequired: required,
  });

/** Marks an error that refuses the whole request with an HTTP status (Yoga reads `extensions.http`). */
export function requestError(error: GraphQLError, headers: Record<string, string> = {}): GraphQLError {
  const code = error.extensions.code as ErrorCode;
  return graphQLErrorWithoutStack(error.message, {
    extensions: { ...error.extensions, http: { status: httpStatusOf[code], headers } },
  });
}

export function isKeyscopeError(error: unknown): error is GraphQLError {
  return (
    error instanceof GraphQLError &&
    typeof error.extensions.code === 'string' &&
    error.extensions.code in ErrorCode &&
    error.extensions.code !== 'INTERNAL_SERVER_ERROR'
  );
}
