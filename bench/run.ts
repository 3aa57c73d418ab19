// `npm run bench`: the load benchmark of issue 7. One bounded run on loopback: a bare
// graphql-yoga + Pothos `{ hello }` server (the baseline) and Keyscope on a fresh SQLite
// database (then PostgreSQL when BENCH_DATABASE_URL is set), each server a child pinned to
// core 0, this process (autocannon) on core 1. Prints one table and writes it to
// bench/results/latest.md, with the raw figures in bench/results/latest.json.
//
//   npm run bench                 # about 3 minutes with PostgreSQL, 2 without (6 minutes at most: then it stops)
//   npm run bench -- --long       # the RSS run of scenario 2 lasts 60 s instead of 20 s
//   npm run bench -- --quick      # shorter phases, for trying the harness (figures are rough)
//   npm run bench -- --profile    # node --cpu-prof of the servers under scenarios 1, 2 and 6 (--only 3,4 for others)
//   npm run bench -- --only 2,6   # just those rows (--db sqlite|postgres: one database)
//   npm run bench -- --in-process # server CPU per request without sockets: the steadiest figure
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ensureBundle } from '../scripts/bundle.mjs';
import { connectDatabase } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { inProcess } from './in-process.ts';
import { type LedgerCheck, checkLedger } from './ledger-check.ts';
import { type LoadRequest, type LoadResult, cpuMs, measure, measurePaired, rssMb } from './load.ts';
import { type ServerChild, freePort, killAllServers, npmStartArgs, pinSelfToCore1, pinning, startServer } from './processes.ts';
import { formatSummary, summariseProfile } from './profile-summary.ts';
import { type Session, createKeys, grantCredits, registerVerified } from './seed.ts';

const { values: flags } = parseArgs({
  options: {
    long: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    only: { type: 'string' },
    db: { type: 'string' },
    'in-process': { type: 'boolean', default: false },
  },
});

/** `--only 2,6` runs just those rows (for working on one path; the table is then partial). */
const only = flags.only ? new Set(flags.only.split(',').map((s) => s.trim())) : null;
const selected = (scenario: string) => !only || only.has(scenario);

const HARD_LIMIT_MS = 6 * 60_000;
const WARMUP_S = flags.quick ? 1 : 2;
const MEASURE_S = flags.quick ? 3 : 5;
/**
 * Each row and its baseline alternate in this many slices of MEASURE_S / ROUNDS seconds of load
 * each. This machine's speed flips between a fast and a slow state (CPU per request about 230
 * or about 500 µs, for Keyscope and the baseline alike) every few seconds: slices much shorter
 * than that give both sides the same mix of the two. With 1.67 s slices, one row's three could
 * land in the slow state and its baseline's three in the fast one.
 */
const ROUNDS = 10;
/** Extra warm-up of a freshly started Keyscope server, before its first row. */
const FIRST_WARMUP_S = flags.quick ? 2 : 4;
const SOAK_S = flags.long ? 60 : flags.quick ? 6 : 20;
const PROFILE_S = 10;
const CONNECTIONS = 10;
const READ_KEYS = 1_000;
/**
 * Write keys for scenarios 4 and 5. The query-cost budget (rate-limits/cost-budget.ts: 1000
 * points refilled at 50 per second per key; a mutation costs 10) has no setting to lift for
 * a throughput run, and holds one key to 5 createJob/s: the writes rotate this many keys to
 * stay inside it. Every request is still counted and charged against its key's budget.
 */
const WRITE_KEYS = 300;
const GRANT = 10_000_000;
const RATE_LIMIT = '1000000/1s';
const ROOT = path.resolve(import.meta.dirname, '..');
const RESULTS = path.join(ROOT, 'bench', 'results');
/**
 * Keyscope runs as `npm start` runs it (scripts/start.mjs: the bundle of src/main.ts), and the
 * baseline as the same build makes it: bench/servers/baseline.ts bundled by scripts/bundle.mjs.
 */
const KEYSCOPE_ARGS = npmStartArgs();
const BASELINE_BUNDLE = path.join(ROOT, 'dist/bench-baseline.mjs');

/** Both bundles current before any server starts (a stale one would be rebuilt inside a measured start-up). */
async function prepareBundles(): Promise<void> {
  const started = performance.now();
  const built = [
    (await ensureBundle()) ? 'dist/main.mjs' : null,
    (await ensureBundle({ entry: path.join(ROOT, 'bench/servers/baseline.ts'), outfile: BASELINE_BUNDLE })) ? 'dist/bench-baseline.mjs' : null,
  ].filter(Boolean);
  if (built.length > 0) log(`Built ${built.join(' and ')} in ${Math.round(performance.now() - started)} ms`);
}

type Db = 'sqlite' | 'postgres' | '—';

interface Row {
  scenario: string;
  title: string;
  db: Db;
  result: LoadResult | null;
  /** The baseline, measured in slices alternating with this row's; its ratios are to it. */
  pair: LoadResult | null;
  missing?: string;
  note?: string;
  /** createJob rows: what the job worker still had to do after the measured slices. */
  worker?: WorkerCatchUp;
}

/**
 * The job worker runs in the server process beside the requests and may fall behind under
 * full load; what it defers is CPU the measured slices did not pay for. So each slice of a
 * createJob row starts with no backlog: after each the benchmark waits for the worker to
 * finish, and reports the server CPU per request including those catch-ups.
 */
interface WorkerCatchUp {
  /** The most jobs QUEUED or RUNNING at the end of one of the row's slices. */
  waiting: number;
  /** The catch-ups' time in all. */
  catchUpMs: number;
  /** Server CPU per request over the measured slices and the catch-ups together. */
  cpuUsPerRequestWithCatchUp: number;
  /** The worker had not finished within the wait (the figure above then undercounts). */
  timedOut: boolean;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------------------- scenarios

const JSON_HEADERS = { 'content-type': 'application/json' };
const body = (query: string) => JSON.stringify({ query });
const Q = {
  hello: body('{ hello }'),
  viewer: body('{ viewer { apiKey { id scope } } }'),
  credits: body('{ credits { balance } }'),
  createJob: body('mutation { createJob(input: { kind: STAGE }) { job { id status } } }'),
};
const keyed = (keys: string[], query: string): LoadRequest[] =>
  keys.map((key) => ({ headers: { ...JSON_HEADERS, authorization: `Bearer ${key}` }, body: query }));
const ok = (needle: string) => (status: number, text: string) => status === 200 && text.includes(needle) && !text.includes('"errors"');

/** A key of the right shape whose checksum is wrong: refused before any look-up. */
function badChecksum(key: string): string {
  const last = key.at(-1) === 'A' ? 'B' : 'A';
  return key.slice(0, -1) + last;
}

// ---------------------------------------------------------------------------- servers

interface KeyscopeTarget {
  db: Exclude<Db, '—'>;
  /** The server's environment, and the operator command line's (PostgreSQL: the schema's search_path in DATABASE_URL). */
  env: Record<string, string>;
  mailDir: string;
  openDb(): ReturnType<typeof connectDatabase>;
  cleanup(): Promise<void>;
}

function keyscopeEnv(dataDir: string) {
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    KEYSCOPE_SECRET: randomBytes(32).toString('base64url'),
    KEYSCOPE_DATA_DIR: dataDir,
    MAIL_DIR: path.join(dataDir, 'mail'),
    KEYSCOPE_DEFAULT_RATE_LIMIT: RATE_LIMIT,
    KEYSCOPE_LOG_REQUESTS: '1',
  };
}

async function sqliteTarget(): Promise<KeyscopeTarget> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'keyscope-bench-'));
  const url = `file:${path.join(dataDir, 'keyscope.db')}`;
  const env = { ...keyscopeEnv(dataDir), DATABASE_URL: url };
  return {
    db: 'sqlite',
    env,
    mailDir: env.MAIL_DIR,
    openDb: () => connectDatabase(url),
    async cleanup() {
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function postgresTarget(url: string): Promise<KeyscopeTarget> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'keyscope-bench-'));
  const schema = `bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const database = connectDatabase(url, { pgSchema: schema });
  await migrateToLatest(database.db, { pgSchema: schema });
  await database.close();
  // The server and the operator command line both reach the schema through the URL's search_path.
  const withSchema = `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const env = { ...keyscopeEnv(dataDir), DATABASE_URL: withSchema };
  return {
    db: 'postgres',
    env,
    mailDir: env.MAIL_DIR,
    openDb: () => connectDatabase(url, { pgSchema: schema }),
    async cleanup() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** SQLite, then PostgreSQL when BENCH_DATABASE_URL is set; `--db sqlite|postgres` keeps one. */
async function keyscopeTargets(): Promise<KeyscopeTarget[]> {
  const targets: KeyscopeTarget[] = [];
  if (flags.db !== 'postgres') targets.push(await sqliteTarget());
  const pgUrl = process.env.BENCH_DATABASE_URL;
  if (pgUrl && flags.db !== 'sqlite') targets.push(await postgresTarget(pgUrl));
  return targets;
}

async function startKeyscope(target: KeyscopeTarget, extraEnv: Record<string, string> = {}, nodeFlags: string[] = []): Promise<ServerChild> {
  return startServer({
    command: [process.execPath, ...nodeFlags, ...KEYSCOPE_ARGS],
    env: { ...target.env, ...extraEnv },
    port: await freePort(),
    stderr: (text) => log(`  [keyscope] ${text.trimEnd()}`),
  });
}

async function startBaseline(nodeFlags: string[] = []): Promise<ServerChild> {
  return startServer({
    command: [process.execPath, ...nodeFlags, BASELINE_BUNDLE],
    env: {},
    port: await freePort(),
    stderr: (text) => log(`  [baseline] ${text.trimEnd()}`),
  });
}

// ---------------------------------------------------------------------------- seeding

interface Seeded {
  reader: Session;
  hot: Session;
  readKeys: string[];
  testKeys: string[];
  hotKeys: string[];
  granted: number;
  grantNote: string | null;
}

async function seed(server: ServerChild, target: KeyscopeTarget): Promise<Seeded> {
  const started = performance.now();
  const reader = await registerVerified(server.baseUrl, target.mailDir, 'reader');
  const hot = await registerVerified(server.baseUrl, target.mailDir, 'hot');
  const readKeys = await createKeys(server.baseUrl, reader, READ_KEYS, { scope: 'READ', environment: 'LIVE' });
  const hotKeys = await createKeys(server.baseUrl, hot, WRITE_KEYS, { scope: 'WRITE', environment: 'LIVE' });
  const testKeys = await createKeys(server.baseUrl, hot, WRITE_KEYS, { scope: 'WRITE', environment: 'TEST' });
  const grant = await grantCredits(target.env, hot.email, GRANT);
  log(`  seeded 2 accounts, ${READ_KEYS + 2 * WRITE_KEYS} keys${grant.ok ? `, granted ${GRANT} credits` : ''} in ${Math.round(performance.now() - started)} ms`);
  return { reader, hot, readKeys, testKeys, hotKeys, granted: grant.ok ? GRANT : 0, grantNote: grant.ok ? null : grant.output };
}

/** Null when the field answers; otherwise why the scenario cannot run (for example the field does not exist yet). */
async function probe(server: ServerChild, query: string, key: string, expect: (status: number, text: string) => boolean): Promise<string | null> {
  const response = await fetch(`${server.baseUrl}/graphql`, {
    method: 'POST',
    headers: { ...JSON_HEADERS, authorization: `Bearer ${key}` },
    body: query,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (expect(response.status, text)) return null;
  const message = /"message":"([^"]{0,160})/.exec(text)?.[1] ?? text.slice(0, 160);
  return `${response.status}: ${message}`;
}

// ---------------------------------------------------------------------------- the job worker

const CATCH_UP_LIMIT_MS = 30_000;

async function unfinishedJobs(db: ReturnType<typeof connectDatabase>['db']): Promise<number> {
  const row = await db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', 'in', ['QUEUED', 'RUNNING'])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Waits (bounded) until the server's job worker has finished every job: how many were waiting, and how long it took. */
async function catchUp(target: KeyscopeTarget): Promise<{ waiting: number; ms: number; timedOut: boolean }> {
  const database = target.openDb();
  const started = performance.now();
  try {
    const waiting = await unfinishedJobs(database.db);
    let left = waiting;
    while (left > 0 && performance.now() - started < CATCH_UP_LIMIT_MS) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      left = await unfinishedJobs(database.db);
    }
    return { waiting, ms: Math.round(performance.now() - started), timedOut: left > 0 };
  } finally {
    await database.close();
  }
}

// ---------------------------------------------------------------------------- phases

type Expect = (status: number, text: string) => boolean;

/**
 * Every Keyscope row is measured in slices alternating with slices of the baseline (see
 * measurePaired), and its ratios are to those: the machine's load drifts, from second to
 * second and over minutes, and the two sides share it.
 */
interface Bench {
  baseline: ServerChild;
  rows: Row[];
  baseRuns: LoadResult[];
}

const helloRequests: LoadRequest[] = [{ headers: JSON_HEADERS, body: Q.hello }];
const helloOk = ok('"hello":"world"');

function describe(result: LoadResult): string {
  return `${result.requestsPerSecond} req/s, p50 ${fixed(result.p50Ms)} ms, p99 ${fixed(result.p99Ms)} ms, CPU ${result.cpuUsPerRequest} µs/req, RSS ${result.rssMaxMb} MB${result.unexpected ? `, ${result.unexpected} unexpected, first: ${result.firstUnexpected}` : ''}`;
}

async function baselineRun(bench: Bench, warmupSeconds = 0): Promise<LoadResult> {
  const result = await measure({ baseUrl: bench.baseline.baseUrl, requests: helloRequests, expect: helloOk, warmupSeconds, seconds: MEASURE_S, connections: CONNECTIONS, serverPid: bench.baseline.pid });
  bench.baseRuns.push(result);
  return result;
}

async function scenario(
  bench: Bench,
  spec: { scenario: string; title: string; db: Db; note?: string },
  server: ServerChild,
  requests: LoadRequest[],
  expect: Expect,
  missing: string | null = null,
  jobsOf: KeyscopeTarget | null = null,
): Promise<LoadResult | null> {
  if (!selected(spec.scenario)) return null;
  if (missing) {
    log(`  ${spec.scenario} ${spec.title} [${spec.db}]: missing (${missing})`);
    bench.rows.push({ ...spec, result: null, pair: null, missing });
    return null;
  }
  if (jobsOf) await catchUp(jobsOf);
  // createJob rows: after every slice the worker finishes its backlog, so that each slice (and
  // the baseline's) starts with it idle; what that costs is added up for the note.
  const worker: WorkerCatchUp = { waiting: 0, catchUpMs: 0, cpuUsPerRequestWithCatchUp: 0, timedOut: false };
  let catchUpCpuMs = 0;
  const afterSlice = jobsOf
    ? async () => {
        const cpuBefore = cpuMs(server.pid);
        const done = await catchUp(jobsOf);
        catchUpCpuMs += cpuMs(server.pid) - cpuBefore;
        worker.waiting = Math.max(worker.waiting, done.waiting);
        worker.catchUpMs += done.ms;
        worker.timedOut ||= done.timedOut;
      }
    : undefined;
  const { pair, result } = await measurePaired(
    { baseUrl: bench.baseline.baseUrl, requests: helloRequests, expect: helloOk, warmupSeconds: 0, seconds: MEASURE_S, connections: CONNECTIONS, serverPid: bench.baseline.pid },
    {
      baseUrl: server.baseUrl,
      requests,
      expect,
      warmupSeconds: WARMUP_S,
      seconds: MEASURE_S,
      connections: CONNECTIONS,
      serverPid: server.pid,
      ...(jobsOf ? { afterWarmup: async () => void (await catchUp(jobsOf)), afterSlice } : {}),
    },
    ROUNDS,
  );
  bench.baseRuns.push(pair);
  if (jobsOf) {
    const measuredCpuMs = (result.cpuUsPerRequest * result.completed) / 1000;
    worker.cpuUsPerRequestWithCatchUp = Math.round(((measuredCpuMs + catchUpCpuMs) * 1000) / Math.max(1, result.completed));
  }
  const backlog = jobsOf ? `; worker backlog at most ${worker.waiting} jobs, caught up in ${worker.catchUpMs} ms in all, CPU ${worker.cpuUsPerRequestWithCatchUp} µs/req with it` : '';
  log(`  ${spec.scenario} ${spec.title} [${spec.db}]: ${describe(result)}${backlog} (baseline in the slices between: ${pair.requestsPerSecond} req/s, p99 ${fixed(pair.p99Ms)} ms, CPU ${pair.cpuUsPerRequest} µs/req)`);
  bench.rows.push({ ...spec, result, pair, ...(jobsOf ? { worker } : {}) });
  return result;
}

interface Soak {
  seconds: number;
  samples: number[];
  startMb: number;
  endMb: number;
  maxMb: number;
  /** Mean RSS over the first and the last third of the run (after the first 3 s): flat means close. */
  firstThirdMb: number;
  lastThirdMb: number;
  requestsPerSecond: number;
}

async function soak(server: ServerChild, requests: LoadRequest[]): Promise<Soak> {
  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(rssMb(server.pid)), 1_000);
  try {
    const result = await measure({ baseUrl: server.baseUrl, requests, expect: ok('"scope"'), warmupSeconds: 0, seconds: SOAK_S, connections: CONNECTIONS, serverPid: server.pid });
    // The first seconds still grow the heap to its working size; flatness is judged after them.
    const settled = samples.slice(Math.min(3, samples.length - 1));
    const third = Math.max(1, Math.floor(settled.length / 3));
    const mean = (values: number[]) => Math.round((10 * values.reduce((a, b) => a + b, 0)) / Math.max(1, values.length)) / 10;
    return {
      seconds: SOAK_S,
      samples,
      startMb: settled[0] ?? Number.NaN,
      endMb: samples.at(-1) ?? Number.NaN,
      maxMb: Math.max(...samples),
      firstThirdMb: mean(settled.slice(0, third)),
      lastThirdMb: mean(settled.slice(-third)),
      requestsPerSecond: result.requestsPerSecond,
    };
  } finally {
    clearInterval(sampler);
  }
}

interface LedgerRow {
  db: Db;
  check: LedgerCheck;
  jobsSeen: number;
}

async function keyscopeRuns(bench: Bench, target: KeyscopeTarget, soaks: Soak[], ledgers: LedgerRow[]): Promise<void> {
  const db = target.db;
  log(`Keyscope on ${db}`);
  let server = await startKeyscope(target);
  log(`  server answered /health ${Math.round(server.startupMs)} ms after spawn`);
  const s = await seed(server, target);
  const invalid = badChecksum(s.readKeys[0] ?? '');
  // A fresh process: let the JIT settle and every read key be seen once before any row counts.
  await measure({ baseUrl: server.baseUrl, requests: keyed(s.readKeys, Q.viewer), expect: () => true, warmupSeconds: 0, seconds: FIRST_WARMUP_S, connections: CONNECTIONS, serverPid: server.pid });
  let jobsSeen = 0;
  let cannot5: string | null = null;
  try {
    await scenario(bench, { scenario: '2', title: 'viewer, READ keys (1,000 in rotation)', db }, server, keyed(s.readKeys, Q.viewer), ok('"scope":"READ"'));
    const noCredits = await probe(server, Q.credits, s.readKeys[0] ?? '', ok('"balance"'));
    await scenario(bench, { scenario: '3', title: 'credits, LIVE READ keys (1,000)', db }, server, keyed(s.readKeys, Q.credits), ok('"balance"'), noCredits);
    const noJobs = await probe(server, Q.createJob, s.testKeys[0] ?? '', ok('"job":{"id"'));
    await scenario(bench, { scenario: '4', title: `createJob, TEST keys (${WRITE_KEYS})`, db }, server, keyed(s.testKeys, Q.createJob), ok('"job":{"id"'), noJobs, target);
    cannot5 = noJobs ?? (s.granted === 0 ? `credits could not be granted: ${s.grantNote}` : null);
    const title5 = `createJob, LIVE keys (${WRITE_KEYS}) on one account`;
    const r5 = await scenario(bench, { scenario: '5', title: title5, db }, server, keyed(s.hotKeys, Q.createJob), ok('"job":{"id"'), cannot5, target);
    if (r5) jobsSeen = r5.completed - r5.unexpected;
    await scenario(bench, { scenario: '6', title: 'invalid key (bad checksum) → 401', db }, server, keyed([invalid], Q.viewer), (status) => status === 401);
    if (db === 'sqlite' && selected('2')) {
      log(`  RSS run: scenario 2 for ${SOAK_S} s`);
      const result = await soak(server, keyed(s.readKeys, Q.viewer));
      soaks.push(result);
      log(`  RSS mean ${result.firstThirdMb} MB (first third) → ${result.lastThirdMb} MB (last third), max ${result.maxMb} MB, at ${result.requestsPerSecond} req/s`);
    }
  } finally {
    await server.stop();
  }
  if (s.granted > 0 && !cannot5 && selected('5')) {
    const database = target.openDb();
    try {
      const check = await checkLedger(database.db, s.hot.accountId, s.granted);
      ledgers.push({ db, check, jobsSeen });
      log(`  ledger: balance ${check.balance}, ledger sum ${check.ledgerSum}, ${check.liveJobs} LIVE jobs charged ${check.liveJobsCharged}, refunds ${check.refunds}: lost/invented ${check.lostOrInvented}`);
    } finally {
      await database.close();
    }
  }
  if (db === 'sqlite' && selected('2·')) {
    // What the access log costs: scenario 2 again with KEYSCOPE_LOG_REQUESTS=0.
    server = await startKeyscope(target, { KEYSCOPE_LOG_REQUESTS: '0' });
    try {
      await scenario(bench, { scenario: '2·', title: 'viewer, as 2 with the access log off', db, note: 'KEYSCOPE_LOG_REQUESTS=0' }, server, keyed(s.readKeys, Q.viewer), ok('"scope":"READ"'));
    } finally {
      await server.stop();
    }
  }
}

async function npmStartStartup(): Promise<{ ms: number; note: string }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'keyscope-start-'));
  try {
    const server = await startServer({
      command: ['npm', 'start', '--silent'],
      env: { ...keyscopeEnv(dataDir), DATABASE_URL: `file:${path.join(dataDir, 'keyscope.db')}` },
      port: await freePort(),
      group: true,
    });
    await server.stop();
    return { ms: Math.round(server.startupMs), note: 'fresh SQLite database, migrations included, NODE_ENV=production' };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------- the table

interface Target {
  text: string;
  holds: boolean | null;
}

function targetOf(row: Row): Target | null {
  const r = row.result;
  const base = row.pair;
  const ratio = (x: number) => (r && base ? r.requestsPerSecond / base.requestsPerSecond >= x : false);
  const p99 = r && base ? r.p99Ms <= 2 * base.p99Ms : false;
  const clean = r ? r.unexpected === 0 && r.errors === 0 : false;
  const known = r !== null;
  if (row.db === 'sqlite') {
    if (row.scenario === '2' || row.scenario === '3') return { text: '≥ 0.85×, p99 ≤ 2×', holds: known ? ratio(0.85) && p99 && clean : null };
    if (row.scenario === '4') return { text: '≥ 0.6×', holds: known ? ratio(0.6) && clean : null };
    if (row.scenario === '5') return { text: '≥ 0.4×, no credit lost', holds: known ? ratio(0.4) && clean : null };
    if (row.scenario === '6') return { text: '≥ 0.9×', holds: known ? ratio(0.9) && clean : null };
  }
  if (row.db === 'postgres' && (row.scenario === '2' || row.scenario === '3')) return { text: '≥ 0.6×', holds: known ? ratio(0.6) && clean : null };
  return null;
}

function fixed(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '—';
}

function table(rows: Row[], base: { requestsPerSecond: number; p50Ms: number; p99Ms: number; rssMaxMb: number; cpuUsPerRequest: number; min: number; max: number; runs: number }): string {
  const lines = [
    '| # | scenario | db | req/s | × baseline | p50 ms | p99 ms | p99 × baseline | errors / non-2xx | server RSS MB | server CPU µs/req (× baseline) | target | holds |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|:-:|',
    `| 1 | baseline \`{ hello }\`, bare Yoga + Pothos (mean of ${base.runs} runs, ${base.min}–${base.max} req/s) | — | ${base.requestsPerSecond} | 1.00 | ${fixed(base.p50Ms)} | ${fixed(base.p99Ms)} | 1.00 | 0 / 0 | ${fixed(base.rssMaxMb, 0)} | ${Math.round(base.cpuUsPerRequest)} |  |  |`,
  ];
  for (const row of rows) {
    const target = targetOf(row);
    const holds = target?.holds === true ? 'yes' : target?.holds === false ? '**no**' : '';
    const r = row.result;
    const pair = row.pair;
    if (!r || !pair) {
      lines.push(`| ${row.scenario} | ${row.title} | ${row.db} | missing: ${row.missing ?? ''} |  |  |  |  |  |  |  | ${target?.text ?? ''} | ${holds} |`);
      continue;
    }
    lines.push(
      `| ${row.scenario} | ${row.title} | ${row.db} | ${r.requestsPerSecond} | ${fixed(r.requestsPerSecond / pair.requestsPerSecond)} | ${fixed(r.p50Ms)} | ${fixed(r.p99Ms)} | ${fixed(r.p99Ms / pair.p99Ms)} | ${r.errors + r.unexpected} / ${r.non2xx} | ${fixed(r.rssMaxMb, 0)} | ${r.cpuUsPerRequest} (${fixed(r.cpuUsPerRequest / pair.cpuUsPerRequest)}) | ${target?.text ?? ''} | ${holds} |`,
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------- main

async function profileRun(): Promise<void> {
  const dir = path.join(RESULTS, 'profiles');
  // One directory per run: tsx's loader thread writes a profile of its own; the main
  // thread's file is the one whose thread id (the fifth dotted part) is 0.
  const prof = (name: string) => ['--cpu-prof', `--cpu-prof-dir=${path.join(dir, name)}`];
  const mainThreadProfile = (name: string) => {
    const file = readdirSync(path.join(dir, name)).find((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f));
    if (!file) throw new Error(`no main-thread profile in ${path.join(dir, name)}`);
    return path.join(dir, name, file);
  };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await prepareBundles();
  const sections: string[] = [];
  const profiled: string[] = [];
  const baseline = await startBaseline(prof('baseline-hello'));
  await measure({ baseUrl: baseline.baseUrl, requests: helloRequests, expect: helloOk, warmupSeconds: WARMUP_S, seconds: PROFILE_S, connections: CONNECTIONS, serverPid: baseline.pid });
  await baseline.stop();
  profiled.push('baseline-hello');
  for (const target of await keyscopeTargets()) {
    try {
      let server = await startKeyscope(target);
      const s = await seed(server, target);
      await server.stop();
      const runs: [string, string, LoadRequest[], Expect][] = [
        ['2', 'viewer', keyed(s.readKeys, Q.viewer), ok('"scope":"READ"')],
        ['3', 'credits', keyed(s.readKeys, Q.credits), ok('"balance"')],
        ['4', 'create-job-test', keyed(s.testKeys, Q.createJob), ok('"job":{"id"')],
        ['6', 'invalid-key', keyed([badChecksum(s.readKeys[0] ?? '')], Q.viewer), (status) => status === 401],
      ];
      for (const [id, label, requests, expect] of runs) {
        if (only ? !only.has(id) : id === '3' || id === '4') continue;
        const name = `keyscope-${target.db}-${id}-${label}`;
        server = await startKeyscope(target, {}, prof(name));
        const result = await measure({ baseUrl: server.baseUrl, requests, expect, warmupSeconds: WARMUP_S, seconds: PROFILE_S, connections: CONNECTIONS, serverPid: server.pid });
        log(`  ${name}: ${result.requestsPerSecond} req/s, ${result.cpuUsPerRequest} µs CPU/req under the profiler`);
        await server.stop();
        profiled.push(name);
      }
    } finally {
      await target.cleanup();
    }
  }
  for (const name of profiled) sections.push(formatSummary(name, summariseProfile(mainThreadProfile(name))));
  const text = sections.join('\n\n');
  writeFileSync(path.join(dir, 'summary.md'), `${text}\n`);
  process.stdout.write(`${text}\n\nProfiles and this summary are in ${path.relative(ROOT, dir)}/ (open a .cpuprofile in Chrome DevTools).\n`);
}

async function benchmark(): Promise<void> {
  const started = Date.now();
  const soaks: Soak[] = [];
  const ledgers: LedgerRow[] = [];
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    pinned: pinning ? 'servers on core 0, load generator on core 1 (taskset)' : 'not pinned (taskset or a second core missing)',
    loadAverageAtStart: loadavg().map((n) => Math.round(n * 100) / 100),
    connections: CONNECTIONS,
    warmupSeconds: WARMUP_S,
    measureSeconds: MEASURE_S,
    rateLimit: RATE_LIMIT,
    postgres: Boolean(process.env.BENCH_DATABASE_URL),
  };
  log(`Keyscope benchmark: ${meta.cpu}, ${meta.pinned}, load average ${meta.loadAverageAtStart.join(' ')}`);
  log(`KEYSCOPE_DEFAULT_RATE_LIMIT=${RATE_LIMIT} for this run: the benchmark measures throughput, not the limiter's refusals.`);

  await prepareBundles();
  const bench: Bench = { baseline: await startBaseline(), rows: [], baseRuns: [] };
  try {
    log('Baseline: bare graphql-yoga + Pothos (warm-up and one run, then slices alternating with every Keyscope row)');
    log(`  ${describe(await baselineRun(bench, WARMUP_S))}`);
    const targets = await keyscopeTargets();
    for (const target of targets) {
      try {
        await keyscopeRuns(bench, target, soaks, ledgers);
      } finally {
        await target.cleanup();
      }
    }
  } finally {
    await bench.baseline.stop();
  }
  log('Startup: `npm start` to /health 200');
  const startup = await npmStartStartup();
  log(`  ${startup.ms} ms`);

  const runs = bench.baseRuns;
  const mean = (pick: (r: LoadResult) => number) => runs.reduce((sum, r) => sum + pick(r), 0) / runs.length;
  const base = {
    requestsPerSecond: Math.round(mean((r) => r.requestsPerSecond)),
    p50Ms: mean((r) => r.p50Ms),
    p99Ms: mean((r) => r.p99Ms),
    rssMaxMb: Math.max(...runs.map((r) => r.rssMaxMb)),
    cpuUsPerRequest: mean((r) => r.cpuUsPerRequest),
    min: Math.min(...runs.map((r) => r.requestsPerSecond)),
    max: Math.max(...runs.map((r) => r.requestsPerSecond)),
    runs: runs.length,
  };
  const keyscopeRss = Math.max(0, ...bench.rows.map((r) => r.result?.rssMaxMb ?? 0), ...soaks.map((s) => s.maxMb));
  const notes = [
    `- Each Keyscope row is measured in ${ROUNDS} slices alternating with ${ROUNDS} slices of the baseline (baseline first, then the order flips every round: B S, S B, B S, …), and its ratios are to those baseline slices: the machine's speed drifts, and both sides share the drift. The baseline row is the mean of its ${runs.length} runs (the first alone, then one per row).`,
    `- ${CONNECTIONS} connections, ${MEASURE_S} s measured per row and as much of the baseline beside it (${ROUNDS} slices of ${fixed(MEASURE_S / ROUNDS)} s each) after the row's ${WARMUP_S} s warm-up; ${meta.pinned}. Load average at the start: ${meta.loadAverageAtStart.join(' ')}.`,
    `- Keyscope runs as in production: NODE_ENV=production, access log on (one JSON line per request, to /dev/null) except in row 2·, workers and flushes running. KEYSCOPE_DEFAULT_RATE_LIMIT=${RATE_LIMIT} for the run, since it measures throughput: every limiter still counts every request.`,
    `- The query-cost budget (1000 points per key, refilled at 50 per second; createJob costs 10) has no setting: scenarios 4 and 5 rotate ${WRITE_KEYS} keys each to stay inside it, and every request is still charged to its key's budget.`,
    `- "errors" counts socket errors, timeouts and responses other than the scenario expects (a GraphQL error included); scenario 6 expects 401, so its non-2xx are the refusals it asks for.`,
    `- Write system calls per request (socket and file writes, from /proc/<pid>/io: a count the machine's load does not move, unlike CPU time): baseline ${fixed(mean((r) => r.writeCallsPerRequest), 1)}; ${bench.rows
      .flatMap((row) => (row.result ? [`${row.scenario} ${row.db} ${fixed(row.result.writeCallsPerRequest, 1)}`] : []))
      .join(', ')}.`,
    `- \`npm start\` answered /health ${startup.ms} ms after spawn (target < 2000 ms: ${startup.ms < 2000 ? 'holds' : '**misses**'}; ${startup.note}).`,
    ...soaks.map(
      (s) =>
        `- RSS over a ${s.seconds} s run of scenario 2 (SQLite${flags.long ? '' : '; `npm run bench -- --long` makes it 60 s'}), sampled every second: mean ${s.firstThirdMb} MB over the first third, ${s.lastThirdMb} MB over the last, ${s.maxMb} MB at most (the heap's sawtooth between major collections), at ${s.requestsPerSecond} req/s (target < 250 MB and flat).`,
    ),
    ...bench.rows.flatMap((row) =>
      row.worker && row.result && row.pair
        ? [
            `- Scenario ${row.scenario} on ${row.db}: each slice of a createJob row starts with the job worker idle (the worker runs in the server process), and after each the benchmark waits for it to finish. It had at most ${row.worker.waiting} jobs still to run at the end of a slice, and took ${row.worker.catchUpMs} ms in all to finish them${row.worker.timedOut ? ' (**not finished** within a wait)' : ''}; server CPU per request including the catch-ups: ${row.worker.cpuUsPerRequestWithCatchUp} µs (${fixed(row.worker.cpuUsPerRequestWithCatchUp / row.pair.cpuUsPerRequest)}× the baseline's).`,
          ]
        : [],
    ),
    ...ledgers.map(
      ({ db, check, jobsSeen }) =>
        `- Scenario 5 on ${db}: granted ${check.granted}; balance ${check.balance} = ledger sum ${check.ledgerSum}; ${check.liveJobs} LIVE jobs recorded (${jobsSeen} seen by the client in the measured phase, the rest in warm-up or in flight at the cut-off), charged ${check.liveJobsCharged}, refunds ${check.refunds}: credits lost or invented = ${check.lostOrInvented} (${check.ok ? 'holds' : '**fails**'}).`,
    ),
    keyscopeRss > 0
      ? `- Peak Keyscope RSS over the run: ${fixed(keyscopeRss, 0)} MB (target < 250 MB: ${keyscopeRss < 250 ? 'holds' : '**misses**'}; the bare Yoga baseline peaked at ${fixed(base.rssMaxMb, 0)} MB).`
      : '- Peak Keyscope RSS: no Keyscope row ran.',
    `- Whole run: ${Math.round((Date.now() - started) / 1000)} s.`,
  ];
  const markdown = [
    `## Benchmark (${meta.date.slice(0, 10)}, ${meta.cpu}, ${meta.cores} cores, Node ${meta.node})`,
    '',
    table(bench.rows, base),
    '',
    ...notes,
    '',
  ].join('\n');
  // Only a whole run replaces latest.md (the committed table); --only, --db or --quick write partial.*.
  const name = only || flags.db || flags.quick ? 'partial' : 'latest';
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(path.join(RESULTS, `${name}.md`), markdown);
  writeFileSync(path.join(RESULTS, `${name}.json`), `${JSON.stringify({ meta, baseline: base, baselineRuns: runs, rows: bench.rows, startup, soaks, ledgers }, null, 2)}\n`);
  process.stdout.write(`\n${markdown}\nWritten to bench/results/${name}.md and bench/results/${name}.json.\n`);
}

const watchdog = setTimeout(() => {
  log(`benchmark: over ${HARD_LIMIT_MS / 60_000} minutes, stopping`);
  killAllServers();
  process.exit(1);
}, HARD_LIMIT_MS);
const interrupt = () => {
  killAllServers();
  process.exit(130);
};
process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);

pinSelfToCore1();
try {
  if (flags['in-process']) {
    log('Server CPU per request in one process (yoga.fetch, no sockets), Keyscope on SQLite beside bare Yoga:');
    await inProcess(['viewer', 'credits', 'createJob', 'invalid'], log);
  } else await (flags.profile ? profileRun() : benchmark());
} catch (error) {
  log(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  killAllServers();
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
}
// Keep-alive sockets and pools must not hold the run open.
process.exit();
