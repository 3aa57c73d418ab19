// Background work that runs beside the HTTP server (job processing, webhook delivery,
// expiry notices). Each worker claims rows with a lease, so several instances can run them.
import type { AppDeps } from './deps.ts';

export interface Worker {
  stop(): Promise<void>;
}

export function startWorkers(_deps: AppDeps): Worker {
  const workers: Worker[] = [];
  return {
    async stop() {
      await Promise.all(workers.map((w) => w.stop()));
    },
  };
}
