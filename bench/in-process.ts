// `npm run bench -- --in-process` (or `npx tsx bench/in-process.ts viewer,credits`): the
// server's CPU time per request with no sockets, no second process and no load generator,
// through Yoga's real request handling (yoga.fetch), ten requests in flight, beside the bare
// Yoga baseline measured the same way. On a machine
// whose load drifts, this is the steadiest figure for "did this change make a request
// cheaper"; it leaves out what node:http costs (about 40 µs here), which the load run has.
// The query-cost budget is lifted (it would refuse createJob after 100 per key).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { connectDatabase } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { setLogging } from '../src/http/logger.ts';
import { createBaselineYoga } from './baseline-yoga.ts';

const QUERIES: Record<string, string> = {
  viewer: '{ viewer { apiKey { id scope } } }',
  credits: '{ credits { balance } }',
  createJob: 'mutation { createJob(input: { kind: STAGE }) { job { id status } } }',
  invalid: '{ viewer { apiKey { id } } }',
};
const IN_FLIGHT = 10;
const WARM = 3_000;
const MEASURED = 8_000;
const ROUNDS = 3;

export async function inProcess(names: string[], log: (line: string) => void): Promise<Record<string, number[]>> {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyscope-inprocess-'));
  const config = loadConfig({
    NODE_ENV: 'production',
    KEYSCOPE_SECRET: 'in-process benchmark secret, 32+ characters',
    KEYSCOPE_DATA_DIR: dir,
    KEYSCOPE_DEFAULT_RATE_LIMIT: '1000000/1s',
    KEYSCOPE_LOG_REQUESTS: '0',
  });
  setLogging(false);
  const database = connectDatabase(`file:${path.join(dir, 'keyscope.db')}`);
  try {
    await migrateToLatest(database.db);
    const app = createApp({ config, database });
    const cookies = new Map<string, string>();
    const post = async (query: string, variables: Record<string, unknown>, key?: string) => {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-keyscope-csrf': '1' };
      if (cookies.size) headers.cookie = [...cookies].map(([n, v]) => `${n}=${v}`).join('; ');
      if (key) headers.authorization = `Bearer ${key}`;
      const response = await app.yoga.fetch('http://localhost/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) }, { remoteAddress: '127.0.0.1' });
      for (const line of response.headers.getSetCookie()) {
        const pair = line.split(';')[0] ?? '';
        cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
      }
      return (await response.json()) as { data?: Record<string, { secret?: string } | null> };
    };
    await post('mutation($i: CredentialsInput!) { register(input: $i) { account { id } } }', { i: { email: 'bench@example.com', password: 'in-process benchmark password' } });
    await database.db.updateTable('accounts').set({ email_verified_at: Date.now() }).execute();
    const keys: string[] = [];
    for (let i = 0; i < 50; i++) {
      const created = await post('mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }', { i: { name: `k${i}`, scope: 'READ_WRITE', environment: 'TEST' } });
      const secret = created.data?.createApiKey?.secret;
      if (!secret) throw new Error('createApiKey failed');
      keys.push(secret);
    }
    cookies.clear();
    const budget = app.deps.rateLimits.cost;
    budget.spend = async (_keyId, requested) => ({ allowed: true, requested, remaining: 1000, retryAfterSeconds: 0 });
    const invalid = `${keys[0]?.slice(0, -1)}${keys[0]?.endsWith('A') ? 'B' : 'A'}`;

    const run = async (name: string, count: number): Promise<number> => {
      const body = JSON.stringify({ query: QUERIES[name] });
      let sent = 0;
      let wrong = 0;
      const cpu = process.cpuUsage();
      const client = async () => {
        while (sent < count) {
          const key = name === 'invalid' ? invalid : (keys[sent % keys.length] ?? '');
          sent += 1;
          const response = await app.yoga.fetch(
            'http://localhost/graphql',
            { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body },
            { remoteAddress: '127.0.0.1' },
          );
          const text = await response.text();
          if (name === 'invalid' ? response.status !== 401 : response.status !== 200 || text.includes('"errors"')) wrong += 1;
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, client));
      if (wrong > 0) throw new Error(`${name}: ${wrong} unexpected responses`);
      const used = process.cpuUsage(cpu);
      return Math.round((used.user + used.system) / count);
    };

    const baseline = createBaselineYoga();
    const hello = async (count: number): Promise<number> => {
      let sent = 0;
      const cpu = process.cpuUsage();
      const client = async () => {
        while (sent < count) {
          sent += 1;
          const response = await baseline.fetch('http://localhost/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ hello }"}' });
          if (!(await response.text()).includes('world')) throw new Error('baseline: unexpected response');
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, client));
      const used = process.cpuUsage(cpu);
      return Math.round((used.user + used.system) / count);
    };

    const results: Record<string, number[]> = { 'baseline hello': [] };
    await hello(WARM);
    for (const name of names) await run(name, WARM);
    for (let round = 0; round < ROUNDS; round++) {
      results['baseline hello']?.push(await hello(MEASURED));
      for (const name of names) {
        const list = results[name] ?? [];
        list.push(await run(name, MEASURED));
        results[name] = list;
      }
    }
    for (const [name, list] of Object.entries(results)) log(`  ${name}: ${list.join(', ')} µs CPU per request (${ROUNDS} rounds of ${MEASURED})`);
    await app.flush();
    return results;
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const names = (process.argv[2] ?? 'viewer,credits,createJob,invalid').split(',').filter((n) => n in QUERIES);
  await inProcess(names, (line) => process.stdout.write(`${line}\n`));
  process.exit(0);
}
