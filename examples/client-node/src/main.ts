// Example: a server-side program calling Keyscope with an API key through the generated,
// typed operations, and handling every error code the schema declares.
//
//   KEYSCOPE_URL=http://localhost:4000/graphql KEYSCOPE_API_KEY=sk_test_… npx tsx examples/client-node/src/main.ts
//
// KEYSCOPE_PERSISTED=1 sends only each operation's hash (for deployments that limit LIVE
// keys to registered operations); KEYSCOPE_JOB_KIND picks the job to create (default STAGE).
import { randomUUID } from 'node:crypto';
import { CreateJobDocument, CreditsDocument, ErrorCode, JobKind, ViewerDocument } from './generated/graphql.ts';
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

function jobKind(value: string | undefined): JobKind {
  const kinds = Object.values(JobKind) as string[];
  if (value === undefined) return JobKind.Stage;
  if (!kinds.includes(value)) throw new Error(`KEYSCOPE_JOB_KIND must be one of ${kinds.join(', ')}`);
  return value as JobKind;
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
  if (viewer.data?.viewer) {
    const key = viewer.data.viewer.apiKey;
    process.stdout.write(`viewer: ${viewer.data.viewer.authMethod} ${key ? `${key.environment} ${key.scope}` : ''}\n`);
  }

  const credits = await client.execute(CreditsDocument);
  if (reportErrors('credits', credits)) return 1;
  failed ||= credits.errors.length > 0;
  if (credits.data?.credits) process.stdout.write(`credits: ${credits.data.credits.balance} (${credits.data.credits.environment})\n`);

  // One idempotency key per logical job: a retry after a network failure would reuse it and
  // be charged once.
  const created = await client.execute(CreateJobDocument, {
    input: { kind: jobKind(process.env.KEYSCOPE_JOB_KIND), input: { example: true }, idempotencyKey: randomUUID() },
  });
  if (reportErrors('createJob', created)) return 1;
  failed ||= created.errors.length > 0;
  const job = created.data?.createJob?.job;
  if (job) {
    const report = created.extensions.credits as { charged?: number; remaining?: number } | undefined;
    process.stdout.write(
      `createJob: ${job.id} ${job.kind} ${job.status} cost=${job.cost} charged=${job.charged}${report ? ` remaining=${report.remaining}` : ''}\n`,
    );
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
