// Structured logs: one JSON object per line on stdout. Callers pass only safe fields;
// no credential, cookie, secret or stack is ever given to it.
//
// Lines logged in one turn of the event loop go out in one write at the end of that turn
// (setImmediate), not one write each: under load an access-log line per request was a write
// system call per request. A line waits at most for the rest of its turn, and whatever is
// still buffered when the process exits (process.exit included) is written before it goes.
let enabled = true;
let buffered = '';
let scheduled = false;

function writeBuffered(): void {
  scheduled = false;
  if (buffered === '') return;
  const text = buffered;
  buffered = '';
  process.stdout.write(text);
}

// stdout to a file or a pipe is written synchronously on Linux, so this completes on exit.
process.once('exit', writeBuffered);

export function setLogging(on: boolean): void {
  enabled = on;
}

export function logEvent(event: string, fields: Record<string, unknown>): void {
  if (!enabled) return;
  buffered += `${JSON.stringify({ time: new Date().toISOString(), event, ...fields })}\n`;
  if (!scheduled) {
    scheduled = true;
    setImmediate(writeBuffered);
  }
}
