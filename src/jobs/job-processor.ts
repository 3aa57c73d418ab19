// The product's own work. This is the one file a product replaces: keep the interface,
// put your work in `jobProcessor.process`. It runs in the background worker (src/jobs/job-worker.ts),
// off the request path, after the job was paid for and recorded as QUEUED.
//
// - Return COMPLETED or FAILED with a JSON `result`; a FAILED LIVE job gets its credits refunded.
// - Throwing counts as FAILED too (the client sees a generic error result, never the message).
// - A job may run more than once if the process dies mid-way (at-least-once), so make the
//   work idempotent, keyed on `job.id`. Finish within the worker's lease (60 s by default).
import type { JobCosts } from '../config.ts';
import type { Environment } from '../db/database.ts';

export type JobKind = keyof JobCosts;

export interface JobToProcess {
  id: string;
  kind: JobKind;
  /** The client's `input`, as sent (null when omitted). */
  input: unknown;
  accountId: string;
  environment: Environment;
  /** 1 on the first run, more when a run was interrupted. */
  attempt: number;
}

export type JobOutcome = { status: 'COMPLETED'; result: unknown } | { status: 'FAILED'; result: unknown };

export interface JobProcessor {
  process(job: JobToProcess): Promise<JobOutcome>;
}

function asksToFail(input: unknown): boolean {
  return typeof input === 'object' && input !== null && (input as Record<string, unknown>).fail === true;
}

/**
 * The built-in example: completes every job at once, echoing its input, except that an input
 * of `{"fail": true}` makes it fail (so that refunds can be tried without writing a processor).
 */
export const jobProcessor: JobProcessor = {
  async process(job) {
    if (asksToFail(job.input)) {
      return { status: 'FAILED', result: { error: 'The input asked the job to fail.' } };
    }
    return { status: 'COMPLETED', result: { kind: job.kind, input: job.input } };
  },
};
