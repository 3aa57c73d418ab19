// A loop for background work: run a pass, wait, run again; a pass that reports more work
// waiting runs again at once. `stop()` lets the current pass finish. A pass that throws is
// logged (by name only) and the loop goes on.
import { logEvent } from './http/logger.ts';

export interface PollingLoop {
  stop(): Promise<void>;
}

/** `pass` resolves to true when more work may be waiting. */
export function startPolling(name: string, intervalMs: number, pass: () => Promise<boolean>, firstDelayMs = intervalMs): PollingLoop {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = pass()
        .catch((error: unknown) => {
          logEvent(`${name}_failed`, { error: error instanceof Error ? error.name : 'unknown' });
          return false;
        })
        .then((more) => {
          running = undefined;
          schedule(more ? 0 : intervalMs);
        });
    }, delay);
  };
  schedule(firstDelayMs);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
