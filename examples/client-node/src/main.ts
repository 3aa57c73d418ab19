// Example: a server-side program calling Keyscope with an API key through the generated,
// typed operations, and handling every error code the schema declares.
//
//   KEYSCOPE_URL=http://localhost:4000/graphql KEYSCOPE_API_KEY=sk_test_… npx tsx examples/client-node/src/main.ts
import { ErrorCode, ViewerDocument } from './generated/graphql.ts';
import { type KeyscopeError, KeyscopeClient, type KeyscopeResult } from './keyscope-client.ts';

/** What to tell the operator for each code: a switch over the generated enum, checked exhaustively. */
export function describeError(error: KeyscopeError): string {
  const code = error.code;
  switch (code) {
    case ErrorCode.Unauthenticated:
      return 'the API key was refused (malformed, unknown, revoked or expired): check KEYSCOPE_API_KEY';
    case ErrorCode.Forbidden:
      return typeof error.extensions.requiredScope === 'string'
        ? `this key lacks the ${error.extensions.requiredScope} scope`
        : `not allowed (${String(error.extensions.reason ?? 'forbidden')})`;
    case ErrorCode.PaymentRequired:
      return `not enough credits: ${String(error.extensions.creditsRemaining)} left, ${String(error.extensions.creditsRequired)} needed`;
    case ErrorCode.RateLimited:
      return `rate limited: retry in ${String(error.extensions.retryAfter ?? '?')} s`;
    case ErrorCode.BadUserInput:
      return `invalid request: ${error.message}`;
    case ErrorCode.NotFound:
      return `not found: ${error.message}`;
    case ErrorCode.Conflict:
      return `conflict: ${error.message}`;
    case ErrorCode.InternalServerError:
      return `server error (request id ${String(error.extensions.requestId ?? 'unknown')})`;
    case null:
      return `unrecognised error: ${error.message}`;
    default: {
      const unhandled: never = code;
      return `unhandled code ${String(unhandled)}`;
    }
  }
}

/** Prints a step's errors; true when the whole request was refused (no point going on). */
function reportErrors(step: string, result: KeyscopeResult<unknown>): boolean {
  for (const error of result.errors) {
    process.stdout.write(`${step}: error ${error.code ?? 'UNKNOWN'}: ${describeError(error)}\n`);
  }
  return result.errors.length > 0 && result.data === null && result.status >= 400;
}

async function main(): Promise<number> {
  const url = process.env.KEYSCOPE_URL ?? 'http://localhost:4000/graphql';
  const apiKey = process.env.KEYSCOPE_API_KEY;
  if (!apiKey) {
    process.stderr.write('Set KEYSCOPE_API_KEY to an API key (sk_live_… or sk_test_…).\n');
    return 2;
  }
  const client = new KeyscopeClient({ url, apiKey, persisted: process.env.KEYSCOPE_PERSISTED === '1' });
  let failed = false;

  const viewer = await client.execute(ViewerDocument);
  if (reportErrors('viewer', viewer)) return 1;
  failed ||= viewer.errors.length > 0;
  const key = viewer.data?.viewer?.apiKey;
  if (viewer.data?.viewer) {
    process.stdout.write(`viewer: ${viewer.data.viewer.authMethod} ${key ? `${key.environment} ${key.scope}` : ''}\n`);
  }

  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
