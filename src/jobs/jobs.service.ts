// Jobs, the example product: createJob is a metered operation (see credits/metering.service.ts);
// the worker (job-worker.ts) runs the processor and records the outcome here.
import type { VerifiedApiKey } from '../api-keys/api-key-verifier.ts';
import type { RequestState } from '../context.ts';
import { addToBalance, insertLedgerEntry } from '../credits/credits.queries.ts';
import { runMetered } from '../credits/metering.service.ts';
import type { DbOrTrx, JobStatus } from '../db/database.ts';
import type { AppDeps } from '../deps.ts';
import { badUserInput, notFound } from '../errors.ts';
import { newId } from '../ids.ts';
import { type Page, type PageArgs, pageWindow, toPage } from '../schema/pagination.ts';
import { type WebhookEvent, enqueueWebhookEvent, enqueueWebhookEvents } from '../webhooks/webhook-outbox.ts';
import type { JobKind, JobOutcome } from './job-processor.ts';
import { type Job, type JobRow, findJob, finishJob, finishJobs, insertJob, jobRowToJob, listJobs as listJobRows } from './jobs.queries.ts';

/** Largest accepted `input`, as JSON text. */
export const MAX_JOB_INPUT_CHARS = 64 * 1024;

export interface CreateJobInput {
  kind: JobKind;
  input?: unknown;
  idempotencyKey?: string | null;
}

export async function getJob(deps: AppDeps, key: VerifiedApiKey, jobId: string): Promise<Job> {
  const row = await findJob(deps.db, key.accountId, key.environment, jobId);
  if (!row) throw notFound('Job');
  return jobRowToJob(row);
}

export async function listJobs(deps: AppDeps, key: VerifiedApiKey, args: PageArgs & { status?: JobStatus | null }): Promise<Page<Job>> {
  const { limit, afterId } = pageWindow(args);
  const rows = await listJobRows(deps.db, key.accountId, key.environment, { limit, afterId, status: args.status ?? null });
  return toPage(rows.map(jobRowToJob), limit, (j) => j.id);
}

/** Records a QUEUED job, paid for in the same transaction; the worker runs it later. */
export async function createJob(deps: AppDeps, state: RequestState, key: VerifiedApiKey, input: CreateJobInput): Promise<Job> {
  const jobInput = input.input ?? null;
  const inputText = jobInput === null ? null : JSON.stringify(jobInput);
  if (inputText !== null && inputText.length > MAX_JOB_INPUT_CHARS) {
    throw badUserInput(`input must be at most ${MAX_JOB_INPUT_CHARS} characters of JSON.`, { field: 'input' });
  }
  const at = deps.clock.now();
  const jobId = newId('job', at);
  return runMetered(deps, state, {
    operation: 'createJob',
    cost: deps.config.jobCosts[input.kind],
    input: { kind: input.kind, input: jobInput },
    idempotencyKey: input.idempotencyKey,
    resultId: jobId,
    jobId,
    reason: `createJob ${input.kind}`,
    async record(trx, charge) {
      const row: JobRow = {
        id: jobId,
        account_id: charge.accountId,
        key_id: charge.keyId,
        environment: charge.environment,
        kind: input.kind,
        status: 'QUEUED',
        cost: charge.cost,
        charged: charge.charged,
        input: inputText,
        result: null,
        attempts: 0,
        claimed_until: null,
        created_at: at,
        completed_at: null,
      };
      await insertJob(trx, row);
      return jobRowToJob(row);
    },
    replay: (firstJobId) => getJob(deps, key, firstJobId),
  });
}

/** What webhook subscribers get about a finished job. */
function jobEventData(job: Job) {
  return {
    job: {
      id: job.id,
      kind: job.kind,
      status: job.status,
      cost: job.cost,
      charged: job.charged,
      result: job.result,
      createdAt: job.createdAt.toISOString(),
      completedAt: job.completedAt?.toISOString() ?? null,
    },
  };
}

/** A claimed job and what its processor made of it. */
export interface FinishedJob {
  job: JobRow;
  outcome: JobOutcome;
}

/** Gives a FAILED job's charge back to its account, by a ledger entry. */
async function refundFailedJob(trx: DbOrTrx, job: JobRow, at: number): Promise<void> {
  const balance = await addToBalance(trx, job.account_id, job.charged);
  if (balance === undefined) throw new Error('refund: account not found');
  await insertLedgerEntry(trx, {
    accountId: job.account_id,
    amount: job.charged,
    balanceAfter: balance,
    kind: 'refund',
    reason: `job ${job.kind} failed`,
    actor: 'system',
    keyId: job.key_id,
    jobId: job.id,
    at,
  });
}

/** job.completed or job.failed for the key's webhook (its payload built only if a webhook takes it). */
function finishedJobEvent(job: JobRow, outcome: JobOutcome, resultText: string, at: number): WebhookEvent {
  return {
    accountId: job.account_id,
    keyId: job.key_id,
    environment: job.environment,
    type: outcome.status === 'COMPLETED' ? 'job.completed' : 'job.failed',
    data: () => jobEventData(jobRowToJob({ ...job, status: outcome.status, result: resultText, completed_at: at, claimed_until: null })),
    at,
  };
}

/**
 * Records a claimed job's outcome, refunds a FAILED job's charge by a ledger entry and queues
 * job.completed / job.failed, in one transaction. False (and nothing written) when this worker's
 * lease had run out and another worker owns the job now.
 */
export async function finishClaimedJob(deps: AppDeps, job: JobRow, leaseUntil: number, outcome: JobOutcome): Promise<boolean> {
  const at = deps.clock.now();
  const resultText = JSON.stringify(outcome.result ?? null);
  return deps.database.transaction(async (trx) => {
    if (!(await finishJob(trx, job.id, leaseUntil, { status: outcome.status, result: resultText, at }))) return false;
    if (outcome.status === 'FAILED' && job.charged > 0) await refundFailedJob(trx, job, at);
    await enqueueWebhookEvent(trx, finishedJobEvent(job, outcome, resultText, at));
    return true;
  });
}

/**
 * finishClaimedJob for jobs claimed with the same lease, all in one transaction: one UPDATE
 * records every outcome, one look-up finds their keys' webhooks. Each job is recorded (with
 * its refund and event) only if this worker still holds its lease. The ids recorded. If any
 * part fails, nothing of any of them is written.
 */
export async function finishClaimedJobs(deps: AppDeps, finished: FinishedJob[], leaseUntil: number): Promise<Set<string>> {
  const at = deps.clock.now();
  const entries = finished.map(({ job, outcome }) => ({ job, outcome, resultText: JSON.stringify(outcome.result ?? null) }));
  return deps.database.transaction(async (trx) => {
    const recorded = await finishJobs(
      trx,
      leaseUntil,
      entries.map(({ job, outcome, resultText }) => ({ jobId: job.id, status: outcome.status, result: resultText, at })),
    );
    const events: WebhookEvent[] = [];
    for (const { job, outcome, resultText } of entries) {
      if (!recorded.has(job.id)) continue;
      if (outcome.status === 'FAILED' && job.charged > 0) await refundFailedJob(trx, job, at);
      events.push(finishedJobEvent(job, outcome, resultText, at));
    }
    await enqueueWebhookEvents(trx, events);
    return recorded;
  });
}
