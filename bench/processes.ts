// Server children for the benchmark: each pinned to core 0 (the load generator, this
// process, is pinned to core 1), started on a free loopback port, waited for on /health,
// and stopped with SIGTERM (SIGKILL if it lingers). Every wait is bounded.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';

/** Every live server child, and whether it leads its own process group. */
const children = new Map<ChildProcess, boolean>();

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const pinning = availableParallelism() >= 2 && hasTaskset();

/** Moves this process (the load generator) to core 1, away from the servers on core 0. */
export function pinSelfToCore1(): void {
  if (pinning) execFileSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });
}

// One free-port probe for the tests and the benchmark.
export { freePort, npmStartArgs } from '../test/processes.ts';

export interface ServerChild {
  process: ChildProcess;
  pid: number;
  baseUrl: string;
  /** Milliseconds from spawn to the first 200 on /health. */
  startupMs: number;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForHealth(baseUrl: string, child: ChildProcess, limitMs: number): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode} before answering /health`);
    try {
      const response = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(10);
  }
  throw new Error(`no 200 from ${baseUrl}/health within ${limitMs} ms`);
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export interface StartOptions {
  /** The command and its arguments (pinned to core 0 when taskset is available). */
  command: string[];
  env: Record<string, string | undefined>;
  port: number;
  /** Kill the whole process group (for `npm start`, which runs node under npm and tsx). */
  group?: boolean;
  stderr?: (text: string) => void;
}

export async function startServer(options: StartOptions): Promise<ServerChild> {
  const [file, ...args] = pinning ? ['taskset', '-c', '0', ...options.command] : options.command;
  if (!file) throw new Error('no command');
  const started = performance.now();
  const child = spawn(file, args, {
    env: { ...process.env, ...options.env, PORT: String(options.port) },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: options.group === true,
  });
  children.set(child, options.group === true);
  child.once('exit', () => children.delete(child));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 4_000) stderr += chunk.toString();
    options.stderr?.(chunk.toString());
  });
  const baseUrl = `http://127.0.0.1:${options.port}`;
  try {
    await waitForHealth(baseUrl, child, 30_000);
  } catch (error) {
    kill(child, options.group === true, 'SIGKILL');
    throw new Error(`${error instanceof Error ? error.message : error}\n${stderr}`);
  }
  const startupMs = performance.now() - started;
  return {
    process: child,
    pid: child.pid ?? 0,
    baseUrl,
    startupMs,
    async stop() {
      kill(child, options.group === true, 'SIGTERM');
      if (!(await waitForExit(child, 10_000))) {
        kill(child, options.group === true, 'SIGKILL');
        await waitForExit(child, 2_000);
      }
    },
  };
}

function kill(child: ChildProcess, group: boolean, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    if (group) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    // already gone
  }
}

/** Last resort on an error or interrupt: no server child outlives the benchmark. */
export function killAllServers(): void {
  for (const [child, group] of children) kill(child, group, 'SIGKILL');
}
