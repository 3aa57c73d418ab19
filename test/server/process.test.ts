// The real process: `src/main.ts` on the embedded SQLite default migrates itself, serves,
// and on SIGTERM finishes what is in flight, writes batched counters and exits cleanly.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { PASSWORD, TEST_SECRET } from '../harness.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'keyscope-process-'));
let child: ChildProcess | undefined;
afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function waitForHealth(base: string, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${base}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('server did not answer /health');
}

// SQLite only: it is the embedded default's start-up that is under test.
describe.skipIf(Boolean(process.env.TEST_DATABASE_URL))('the server process', () => {
  it('starts on SQLite, and on SIGTERM exits 0 after writing lastUsedAt', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let output = '';
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, NODE_ENV: 'development', PORT: String(port), KEYSCOPE_DATA_DIR: dataDir, KEYSCOPE_SECRET: TEST_SECRET, DATABASE_URL: '', KEYSCOPE_DEFAULT_RATE_LIMIT: '1000/1s' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d) => (output += d));
    child.stderr?.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child?.on('exit', (code) => resolve(code)));
    await waitForHealth(base, Date.now() + 20_000);

    const gql = async (query: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-keyscope-csrf': '1', ...headers }, body: JSON.stringify({ query }) });
      return { res, body: await res.json() };
    };
    const reg = await gql(`mutation { register(input: { email: "proc@example.com", password: "${PASSWORD}" }) { account { id } } }`);
    const cookie = reg.res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const created = await gql('mutation { createApiKey(input: { name: "p", scope: READ, environment: TEST }) { apiKey { id } secret } }', { cookie });
    const { apiKey, secret } = created.body.data.createApiKey;
    const used = await gql('{ viewer { authMethod } }', { authorization: `Bearer ${secret}` });
    expect(used.body.data.viewer.authMethod).toBe('API_KEY');

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('"event":"stopped"');
    // Credentials never reach the log.
    expect(output).not.toContain(secret);
    expect(output).not.toContain(PASSWORD);

    const db = new SqliteDatabase(path.join(dataDir, 'keyscope.db'), { readonly: true });
    const row = db.prepare('select last_used_at from api_keys where id = ?').get(apiKey.id) as { last_used_at: number | null };
    db.close();
    expect(row.last_used_at).toBeGreaterThan(0);
  });
});
