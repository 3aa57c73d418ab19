// Measured load: autocannon (programmatic) against a server child, after a warm-up, in one
// phase (measure) or in slices alternating with the baseline's (measurePaired), with its own
// latency record (autocannon's histogram keeps whole milliseconds), the server's CPU time and
// write calls, and its resident memory sampled from /proc while the load runs.
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
  /** Runs after each measured slice (measurePaired): the job rows let the worker catch up before the next. */
  afterSlice?: () => Promise<void>;
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

/** autocannon's sample interval: how soon it acts on a stop. */
const SAMPLE_MS = 20;

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
  // autocannon's own duration starts before it builds every connection's copy of every
  // request (10 x 1,000 for the keyed rows: about 180 ms here, against 14 ms for one request),
  // time in which nothing is sent. So the load is timed from its 'start' event (emitted once
  // the clients are built): it is stopped `seconds` after that, and rates are taken over the
  // load alone. Every slice is then `seconds` of load, whatever its count of distinct
  // requests; autocannon's duration is only a bound. autocannon acts on a stop (its own or
  // this one) at its next sample tick, 1 s apart by default, loading the server until then:
  // sampled every 20 ms instead, a slice ends within 20 ms of its time.
  let loadStarted = performance.now();
  let stopTimer: NodeJS.Timeout | undefined;
  return new Promise<{ result: AutocannonResult; loadSeconds: number; unexpected: number; firstUnexpected: string | null }>((resolve, reject) => {
    const instance = autocannon(
      { url: options.baseUrl, connections: options.connections, pipelining: 1, duration: seconds + 30, timeout: 10, sampleInt: SAMPLE_MS, requests },
      (error, result) => {
        clearTimeout(stopTimer);
        if (error) reject(error);
        else resolve({ result, loadSeconds: (performance.now() - loadStarted) / 1000, unexpected, firstUnexpected });
      },
    );
    instance.on('start', () => {
      loadStarted = performance.now();
      stopTimer = setTimeout(() => instance.stop(), seconds * 1000);
    });
    instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => record(responseTime));
  });
}

/** One side of a measurement, added up over one or more autocannon slices. */
class Tally {
  readonly #options: LoadOptions;
  // Bounded: at most ~60k responses/s over the side's seconds.
  readonly #latencies: Float64Array;
  #count = 0;
  #completed = 0;
  /** Seconds of load, from each slice's start event to its end. */
  #seconds = 0;
  #errors = 0;
  #non2xx = 0;
  #unexpected = 0;
  #firstUnexpected: string | null = null;
  #statusCodes: Record<string, number> = {};
  #cpuMs = 0;
  #writes = 0;
  #rssMax = 0;
  #rssEnd = Number.NaN;

  constructor(options: LoadOptions) {
    this.#options = options;
    this.#latencies = new Float64Array(Math.ceil(options.seconds * 60_000) + 1_000);
  }

  async slice(seconds: number): Promise<void> {
    const pid = this.#options.serverPid;
    const record = (ms: number) => {
      if (this.#count < this.#latencies.length) this.#latencies[this.#count++] = ms;
    };
    const sampler = setInterval(() => {
      this.#rssMax = Math.max(this.#rssMax, rssMb(pid));
    }, 250);
    const cpuBefore = cpuMs(pid);
    const writesBefore = writeCalls(pid);
    try {
      const { result, loadSeconds, unexpected, firstUnexpected } = await run(this.#options, seconds, record, true);
      this.#cpuMs += cpuMs(pid) - cpuBefore;
      this.#writes += writeCalls(pid) - writesBefore;
      this.#completed += result.requests.total;
      this.#seconds += loadSeconds;
      this.#errors += result.errors + result.timeouts;
      this.#non2xx += result.non2xx;
      this.#unexpected += unexpected;
      this.#firstUnexpected ??= firstUnexpected;
      for (const [code, { count: n }] of Object.entries(result.statusCodeStats ?? {})) this.#statusCodes[code] = (this.#statusCodes[code] ?? 0) + n;
      this.#rssEnd = rssMb(pid);
      this.#rssMax = Math.max(this.#rssMax, this.#rssEnd);
    } finally {
      clearInterval(sampler);
    }
  }

  /** The figures over every slice. */
  result(): LoadResult {
    const sorted = this.#latencies.subarray(0, this.#count).sort();
    const completed = Math.max(1, this.#completed);
    return {
      requestsPerSecond: Math.round(this.#completed / Math.max(0.001, this.#seconds)),
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      completed: this.#completed,
      errors: this.#errors,
      non2xx: this.#non2xx,
      unexpected: this.#unexpected,
      statusCodes: this.#statusCodes,
      rssMaxMb: this.#rssMax,
      rssEndMb: this.#rssEnd,
      cpuUsPerRequest: Math.round((this.#cpuMs * 1000) / completed),
      writeCallsPerRequest: Math.round((this.#writes * 10) / completed) / 10,
      firstUnexpected: this.#firstUnexpected,
    };
  }
}

async function warmUp(options: LoadOptions): Promise<void> {
  if (options.warmupSeconds > 0) await run(options, options.warmupSeconds, () => {}, false);
  await options.afterWarmup?.();
}

export async function measure(options: LoadOptions): Promise<LoadResult> {
  await warmUp(options);
  const tally = new Tally(options);
  await tally.slice(options.seconds);
  return tally.result();
}

/**
 * A scenario and the baseline measured in alternating slices, `rounds` of each (baseline
 * first, then the order flips every round: B S, S B, B S …), each side's `seconds` split
 * evenly: a drift of the machine's speed over the row falls on both sides alike. After the
 * scenario's warm-up; the baseline server is warm already.
 */
export async function measurePaired(baseline: LoadOptions, scenario: LoadOptions, rounds: number): Promise<{ pair: LoadResult; result: LoadResult }> {
  await warmUp(scenario);
  const sides = [
    { options: baseline, tally: new Tally(baseline) },
    { options: scenario, tally: new Tally(scenario) },
  ];
  for (let round = 0; round < rounds; round++) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      await side.tally.slice(side.options.seconds / rounds);
      await side.options.afterSlice?.();
    }
  }
  const [base, other] = sides;
  if (!base || !other) throw new Error('two sides');
  return { pair: base.tally.result(), result: other.tally.result() };
}
