// The durable job queue's consumer. Jobs are rows; a worker takes one with a lease (a
// conditional UPDATE of status/claimed_until), runs the processor outside any transaction and
// records the outcome only if it still holds the lease. A worker that dies leaves its jobs
// RUNNING with a lease that runs out; any worker (this instance after a restart, or another
// instance) then takes them again. Works the same on SQLite and PostgreSQL.
import { purgeIdempotencyKeys } from '../credits/idempotency.queries.ts';
import { IDEMPOTENCY_TTL_MS } from '../credits/metering.service.ts';
import type { AppDeps } from '../deps.ts';
import { logEvent } from '../http/logger.ts';
import { type PollingLoop, startPolling } from '../polling-loop.ts';
import { type JobKind, type JobOutcome, type JobProcessor, jobProcessor } from './job-processor.ts';
import { type JobRow, claimJobs, findDueJobIds } from './jobs.queries.ts';
import { type FinishedJob, finishClaimedJob, finishClaimedJobs } from './jobs.service.ts';

export const DEFAULT_JOB_LEASE_MS = 60_000;
export const DEFAULT_JOB_CONCURRENCY = 16;
/** A job interrupted this many times (its worker died each time) fails instead of running again. */
export const MAX_JOB_ATTEMPTS = 3;
const PURGE_EVERY_MS = 60 * 60 * 1000;

export interface JobWorkerOptions {
  pollIntervalMs?: number;
  jobLeaseMs?: number;
  /** Jobs claimed and run at once by this worker (default 16): one claim and, on SQLite, one COMMIT serve them all. */
  jobConcurrency?: number;
  jobProcessor?: JobProcessor;
}

function parseInput(text: string | null): unknown {
  return text === null ? null : JSON.parse(text);
}

async function runProcessor(processor: JobProcessor, job: JobRow): Promise<JobOutcome> {
  if (job.attempts > MAX_JOB_ATTEMPTS) {
    return { status: 'FAILED', result: { error: `Gave up after ${MAX_JOB_ATTEMPTS} interrupted attempts.` } };
  }
  try {
    const outcome = await processor.process({
      id: job.id,
      kind: job.kind as JobKind,
      input: parseInput(job.input),
      accountId: job.account_id,
      environment: job.environment,
      attempt: job.attempts,
    });
    if (outcome.status !== 'COMPLETED' && outcome.status !== 'FAILED') throw new Error('processor returned no status');
    return outcome;
  } catch (error) {
    // The client sees a generic result; the cause stays in the server's log.
    logEvent('job_processor_failed', { jobId: job.id, error: error instanceof Error ? error.message.slice(0, 200) : 'unknown' });
    return { status: 'FAILED', result: { error: 'The job failed while processing.' } };
  }
}

/** One pass: claims up to `jobConcurrency` due jobs, runs them, records them. Returns how many it claimed. */
export async function processDueJobs(deps: AppDeps, options: JobWorkerOptions = {}): Promise<number> {
  const processor = options.jobProcessor ?? jobProcessor;
  const lease = options.jobLeaseMs ?? DEFAULT_JOB_LEASE_MS;
  const now = deps.clock.now();
  const leaseUntil = now + lease;
  const due = await findDueJobIds(deps.db, now, options.jobConcurrency ?? DEFAULT_JOB_CONCURRENCY);
  const claimed = await claimJobs(deps.db, due.map((job) => job.id), now, leaseUntil);
  // Outcomes that arrive in the same turn of the event loop are recorded together, as one wave
  // (finishClaimedJobs: one transaction, one UPDATE); one that arrives later waits only for the
  // end of its own turn, never for slower jobs of the batch.
  const waves: Promise<void>[] = [];
  let arrived: FinishedJob[] = [];
  const recordArrived = () => {
    if (arrived.length === 0) return;
    waves.push(recordWave(deps, arrived, leaseUntil));
    arrived = [];
  };
  await Promise.all(
    claimed.map(async (job) => {
      const outcome = await runProcessor(processor, job);
      arrived.push({ job, outcome });
      if (arrived.length === 1) setImmediate(recordArrived);
    }),
  );
  recordArrived();
  await Promise.all(waves);
  return claimed.length;
}

/**
 * Records a wave of outcomes. If the wave fails as a whole (one job's refund, say), each job
 * is recorded alone, so that the others are not held back by it; a job that still cannot be
 * recorded is left RUNNING, and taken again once its lease runs out.
 */
async function recordWave(deps: AppDeps, wave: FinishedJob[], leaseUntil: number): Promise<void> {
  if (wave.length > 1) {
    try {
      const recorded = await finishClaimedJobs(deps, wave, leaseUntil);
      for (const { job } of wave) if (!recorded.has(job.id)) logEvent('job_lease_lost', { jobId: job.id });
      return;
    } catch {
      // each alone, below
    }
  }
  await Promise.all(
    wave.map(async ({ job, outcome }) => {
      try {
        const recorded = await finishClaimedJob(deps, job, leaseUntil, outcome);
        if (!recorded) logEvent('job_lease_lost', { jobId: job.id });
      } catch (error) {
        logEvent('job_finish_failed', { jobId: job.id, error: error instanceof Error ? error.name : 'unknown' });
      }
    }),
  );
}

export function startJobWorker(deps: AppDeps, options: JobWorkerOptions = {}): PollingLoop {
  const concurrency = options.jobConcurrency ?? DEFAULT_JOB_CONCURRENCY;
  let lastPurge = Number.NEGATIVE_INFINITY;
  return startPolling(
    'job_worker',
    options.pollIntervalMs ?? 500,
    async () => {
      const now = deps.clock.now();
      if (now - lastPurge >= PURGE_EVERY_MS) {
        lastPurge = now;
        await purgeIdempotencyKeys(deps.db, now - IDEMPOTENCY_TTL_MS);
      }
      // A full batch means there may be more waiting: go again at once.
      return (await processDueJobs(deps, options)) >= concurrency;
    },
    0,
  );
}
