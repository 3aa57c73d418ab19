// Metered operations: how a product's paid mutation draws on credits. `runMetered` claims the
// idempotency key, debits the cost (one conditional relative UPDATE plus a ledger row) and
// records the work, all in ONE transaction: either everything happened or nothing did (on
// SQLite, one savepoint of a group commit: see db/commit-groups.ts).
// createJob (src/jobs/jobs.service.ts) is the worked example.
import { GraphQLError } from 'graphql';
import type { Transaction } from 'kysely';
import type { RequestState } from '../context.ts';
import type { Database, Environment } from '../db/database.ts';
import type { AppDeps } from '../deps.ts';
import { badUserInput, conflict, forbidden, paymentRequired } from '../errors.ts';
import { sha256 } from '../ids.ts';
import { enqueueWebhookEvent } from '../webhooks/webhook-outbox.ts';
import { debitBalance, insertLedgerEntry, liveWebhookKeyIds, readBalance } from './credits.queries.ts';
import { claimIdempotencyKey, findIdempotencyKey, releaseExpiredIdempotencyKey } from './idempotency.queries.ts';

/** How long an idempotency key is remembered (the worker purges older ones). */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]+$/;

/** What the work is told about the charge. */
export interface Charge {
  /** Credits taken from the balance: 0 for TEST keys. */
  charged: number;
  /** The operation's price, whatever the environment. */
  cost: number;
  /** The LIVE balance after the charge. */
  balance: number;
  environment: Environment;
  accountId: string;
  keyId: string;
}

export interface MeteredOperation<T> {
  /** The root field, e.g. `createJob`. An idempotency key belongs to one operation. */
  operation: string;
  /** Price in credits (a whole number ≥ 0). */
  cost: number;
  /** The operation's input: a replay must send the same (compared by a hash of its canonical JSON). */
  input: unknown;
  idempotencyKey?: string | null;
  /** The id the work will record, made before the transaction so the idempotency row can name it. */
  resultId: string;
  /** Why the ledger row exists, e.g. `createJob STAGE`. */
  reason: string;
  /** Set when the result is a job: the ledger row links to it (and a refund can find it). */
  jobId?: string;
  /** Records the work inside the debit's transaction. Throwing undoes the debit. */
  record(trx: Transaction<Database>, charge: Charge): Promise<T>;
  /** Reads back the first result for an idempotent replay (outside any transaction). */
  replay(resultId: string): Promise<T>;
}

/** JSON with object keys sorted, so `{a,b}` and `{b,a}` are the same input. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

function requestHash(operation: string, input: unknown): string {
  return sha256(`${operation}\n${canonicalJson(input)}`);
}

function checkIdempotencyKey(key: string | null | undefined): string | null {
  if (key === null || key === undefined) return null;
  if (key.length < 1 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH || !IDEMPOTENCY_KEY.test(key)) {
    throw badUserInput(`idempotencyKey must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters without spaces.`, {
      field: 'idempotencyKey',
    });
  }
  return key;
}

/** Adds one metered field's figures to the response's `extensions.credits` (aliases add up). */
function reportCredits(state: RequestState, report: { charged: number; remaining: number; cost: number }): void {
  const previous = state.credits;
  state.credits = {
    charged: (previous?.charged ?? 0) + report.charged,
    remaining: report.remaining,
    cost: (previous?.cost ?? 0) + report.cost,
  };
}

/** `credits.low` to every LIVE key webhook of the account when a debit crosses the threshold downward. */
async function notifyLowBalance(
  trx: Transaction<Database>,
  accountId: string,
  change: { before: number; after: number; threshold: number | null },
  at: number,
): Promise<void> {
  const { before, after, threshold } = change;
  if (threshold === null || !(before > threshold && after <= threshold)) return;
  for (const keyId of await liveWebhookKeyIds(trx, accountId)) {
    await enqueueWebhookEvent(trx, { accountId, keyId, environment: 'LIVE', type: 'credits.low', data: { balance: after, threshold }, at });
  }
}

type Outcome<T> = { replayOf: string } | { value: T; charged: number; balance: number };

/**
 * Runs one metered operation for the calling API key. LIVE keys pay `cost` (PAYMENT_REQUIRED,
 * with nothing recorded, when the balance is lower); TEST keys pay nothing. With an
 * idempotency key, a repeat with the same input returns the first result without charging,
 * and a repeat with a different input is CONFLICT.
 */
export async function runMetered<T>(deps: AppDeps, state: RequestState, op: MeteredOperation<T>): Promise<T> {
  const viewer = state.viewer;
  if (viewer.kind !== 'apiKey') throw forbidden('Metered operations need an API key.', { reason: 'api_key_required' });
  if (!Number.isSafeInteger(op.cost) || op.cost < 0) throw new Error(`invalid cost for ${op.operation}`);
  const idempotencyKey = checkIdempotencyKey(op.idempotencyKey);
  const { accountId } = viewer;
  const { id: keyId, environment } = viewer.key;
  const toCharge = environment === 'LIVE' ? op.cost : 0;
  const at = deps.clock.now();

  let outcome: Outcome<T>;
  try {
    outcome = await deps.database.transaction(async (trx): Promise<Outcome<T>> => {
      if (idempotencyKey) {
        const hash = requestHash(op.operation, op.input);
        await releaseExpiredIdempotencyKey(trx, accountId, environment, idempotencyKey, at - IDEMPOTENCY_TTL_MS);
        const claim = { accountId, environment, key: idempotencyKey, operation: op.operation, requestHash: hash, resultId: op.resultId, at };
        if (!(await claimIdempotencyKey(trx, claim))) {
          const first = await findIdempotencyKey(trx, accountId, environment, idempotencyKey);
          if (!first) throw new Error('idempotency key neither inserted nor found');
          if (first.operation !== op.operation || first.request_hash !== hash) {
            throw conflict('This idempotencyKey was already used with a different input.');
          }
          return { replayOf: first.result_id };
        }
      }
      let balance: number;
      if (toCharge > 0) {
        const debited = await debitBalance(trx, accountId, toCharge);
        if (!debited) throw paymentRequired({ remaining: (await readBalance(trx, accountId)) ?? 0, required: toCharge });
        balance = debited.balance;
        await insertLedgerEntry(trx, {
          accountId,
          amount: -toCharge,
          balanceAfter: balance,
          kind: 'debit',
          reason: op.reason,
          actor: `api_key:${keyId}`,
          keyId,
          jobId: op.jobId ?? null,
          at,
        });
        await notifyLowBalance(trx, accountId, { before: balance + toCharge, after: balance, threshold: debited.lowBalanceThreshold }, at);
      } else {
        balance = (await readBalance(trx, accountId)) ?? 0;
      }
      const value = await op.record(trx, { charged: toCharge, cost: op.cost, balance, environment, accountId, keyId });
      return { value, charged: toCharge, balance };
    });
  } catch (error) {
    const remaining = error instanceof GraphQLError ? error.extensions.creditsRemaining : undefined;
    if (typeof remaining === 'number') reportCredits(state, { charged: 0, remaining, cost: 0 });
    throw error;
  }

  if ('replayOf' in outcome) {
    const value = await op.replay(outcome.replayOf);
    reportCredits(state, { charged: 0, remaining: (await readBalance(deps.db, accountId)) ?? 0, cost: op.cost });
    return value;
  }
  reportCredits(state, { charged: outcome.charged, remaining: outcome.balance, cost: op.cost });
  return outcome.value;
}
