// Background work that runs beside the HTTP server (job processing, webhook delivery,
// expiry notices). Each worker claims rows with a lease (a conditional UPDATE), so several
// instances on one PostgreSQL never process the same row at once.
import type { AppDeps } from './deps.ts';
import { type JobWorkerOptions, startJobWorker } from './jobs/job-worker.ts';
import { startKeyExpiringScanner } from './webhooks/key-expiring.ts';
import { startWebhookWorker } from './webhooks/webhook-worker.ts';

export interface Worker {
  stop(): Promise<void>;
}

export interface WorkerOptions extends JobWorkerOptions {
  /** How often each worker looks for due work (default 500 ms). */
  pollIntervalMs?: number;
  /** Delays in ms between webhook attempts; tests shorten it. */
  webhookRetrySchedule?: number[];
  /** Time limit of one webhook attempt (default 10 s). */
  webhookTimeoutMs?: number;
  /** How often keys are scanned for `key.expiring` (default 60 s). */
  keyExpiringScanIntervalMs?: number;
}

export function startWorkers(deps: AppDeps, options: WorkerOptions = {}): Worker {
  const workers: Worker[] = [];
  workers.push(startJobWorker(deps, options));
  workers.push(
    startWebhookWorker(deps, { pollIntervalMs: options.pollIntervalMs, retrySchedule: options.webhookRetrySchedule, timeoutMs: options.webhookTimeoutMs }),
  );
  workers.push(startKeyExpiringScanner(deps, options.keyExpiringScanIntervalMs));
  return {
    async stop() {
      await Promise.all(workers.map((w) => w.stop()));
    },
  };
}
