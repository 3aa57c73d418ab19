// One measured load phase: autocannon (programmatic) against a server child, after a
// warm-up, with its own latency record (autocannon's histogram keeps whole milliseconds)
// and the server's resident memory sampled from /proc while the load runs.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import autocannon, { type AutocannonRequest, type AutocannonResult } from 'autocannon';

export interface LoadRequest {
  headers: Record<string, string>;
  body: string;
}

export interface LoadOptions {
  baseUrl: string;
  /** Rotated in order by every connection (for example one request per API key). */
  requests: LoadRequest[];
  /** True when a response is the one the scenario expects (status and body). */
  expect: (status: number, body: string) => boolean;
  warmupSeconds: number;
  seconds: number;
  connections: number;
  /** The server process whose RSS is sampled. */
  serverPid: number;
  /** Runs between the warm-up and the measured phase (the job rows let the worker catch up). */
  afterWarmup?: () => Promise<void>;
}

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  completed: number;
  /** Socket errors and timeouts. */
  errors: number;
  non2xx: number;
  /** Responses that were not what the scenario expects (wrong status or GraphQL errors). */
  unexpected: number;
  statusCodes: Record<string, number>;
  rssMaxMb: number;
  rssEndMb: number;
  /** Server CPU time per completed request, in µs. */
  cpuUsPerRequest: number;
  /**
   * The server's write system calls (socket and file, /proc/<pid>/io syscw) per completed
   * request: unlike CPU time, the machine's load does not move it.
   */
  writeCallsPerRequest: number;
  /** The first unexpected response, shortened, to say what went wrong. */
  firstUnexpected: string | null;
}

/** The number a /proc/<pid>/ file gives in `pattern`'s first group (NaN when the file or the line is missing). */
function procNumber(pid: number, file: 'status' | 'io', pattern: RegExp): number {
  try {
    const match = pattern.exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'));
    return match?.[1] ? Number(match[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export function rssMb(pid: number): number {
  return Math.round(procNumber(pid, 'status', /VmRSS:\s+(\d+) kB/) / 102.4) / 10;
}

const CLOCK_TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system) the process has used, in ms: per request, it says what a request costs even on a busy machine. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ") "; utime and stime are the 12th and 13th of them.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/** Write system calls the process has made so far (NaN where /proc/<pid>/io cannot be read). */
export function writeCalls(pid: number): number {
  return procNumber(pid, 'io', /^syscw: (\d+)$/m);
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

function run(options: LoadOptions, seconds: number, record: (ms: number) => void, check: boolean) {
  let unexpected = 0;
  let firstUnexpected: string | null = null;
  const requests: AutocannonRequest[] = options.requests.map((r) => ({
    method: 'POST',
    path: '/graphql',
    headers: r.headers,
    body: r.body,
    ...(check
      ? {
          onResponse(status: number, body: string) {
            if (options.expect(status, body)) return;
            unexpected += 1;
            firstUnexpected ??= `${status} ${body.slice(0, 300)}`;
          },
        }
      : {}),
  }));
  return new Promise<{ result: AutocannonResult; unexpected: number; firstUnexpected: string | null }>((resolve, reject) => {
    const instance = autocannon(
      { url: options.baseUrl, connections: options.connections, pipelining: 1, duration: seconds, timeout: 10, requests },
      (error, result) => (error ? reject(error) : resolve({ result, unexpected, firstUnexpected })),
    );
    instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => record(responseTime));
  });
}

export async function measure(options: LoadOptions): Promise<LoadResult> {
  if (options.warmupSeconds > 0) await run(options, options.warmupSeconds, () => {}, false);
  await options.afterWarmup?.();
  // Bounded: at most ~60k responses/s for the whole phase.
  const latencies = new Float64Array(Math.ceil(options.seconds * 60_000) + 1_000);
  let count = 0;
  const record = (ms: number) => {
    if (count < latencies.length) latencies[count++] = ms;
  };
  let rssMax = 0;
  const sampler = setInterval(() => {
    const mb = rssMb(options.serverPid);
    if (mb > rssMax) rssMax = mb;
  }, 250);
  const cpuBefore = cpuMs(options.serverPid);
  const writesBefore = writeCalls(options.serverPid);
  try {
    const { result, unexpected, firstUnexpected } = await run(options, options.seconds, record, true);
    const cpuUsed = cpuMs(options.serverPid) - cpuBefore;
    const writes = writeCalls(options.serverPid) - writesBefore;
    const sorted = latencies.subarray(0, count).sort();
    const rssEnd = rssMb(options.serverPid);
    const statusCodes: Record<string, number> = {};
    for (const [code, { count: n }] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = n;
    return {
      requestsPerSecond: Math.round(result.requests.total / result.duration),
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      completed: result.requests.total,
      errors: result.errors + result.timeouts,
      non2xx: result.non2xx,
      unexpected,
      statusCodes,
      rssMaxMb: Math.max(rssMax, rssEnd),
      rssEndMb: rssEnd,
      cpuUsPerRequest: Math.round((cpuUsed * 1000) / Math.max(1, result.requests.total)),
      writeCallsPerRequest: Math.round((writes * 10) / Math.max(1, result.requests.total)) / 10,
      firstUnexpected,
    };
  } finally {
    clearInterval(sampler);
  }
}
