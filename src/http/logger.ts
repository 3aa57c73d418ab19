// Structured logs: one JSON object per line on stdout. Callers pass only safe fields;
// no credential, cookie, secret or stack is ever given to it.
let enabled = true;

export function setLogging(on: boolean): void {
  enabled = on;
}

export function logEvent(event: string, fields: Record<string, unknown>): void {
  if (!enabled) return;
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), event, ...fields })}\n`);
}
