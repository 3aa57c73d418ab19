// The real process: `src/main.ts` on the embedded SQLite default migrates itself, serves,
// and on SIGTERM finishes what is in flight, writes batched counters and exits cleanly.
// It also sends mail, hashes passwords and renders GraphiQL with the modules that load on
// first use (nodemailer, argon2, GraphiQL's assets: left outside the bundle `npm start` runs),
// which the in-process tests replace or have loaded already.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { PASSWORD, TEST_SECRET } from '../harness.ts';
import { type KeyscopeProcess, startKeyscopeProcess } from '../processes.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'keyscope-process-'));
let server: KeyscopeProcess | undefined;
afterAll(async () => {
  await server?.stop(1_000);
  rmSync(dataDir, { recursive: true, force: true });
});

// SQLite only: it is the embedded default's start-up that is under test.
describe.skipIf(Boolean(process.env.TEST_DATABASE_URL))('the server process', () => {
  it('starts on SQLite, and on SIGTERM exits 0 after writing lastUsedAt', async () => {
    server = await startKeyscopeProcess({ NODE_ENV: 'development', KEYSCOPE_DATA_DIR: dataDir, KEYSCOPE_SECRET: TEST_SECRET, KEYSCOPE_DEFAULT_RATE_LIMIT: '1000/1s' });
    const url = server.graphqlUrl;
    const gql = async (query: string, headers: Record<string, string> = {}) => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-keyscope-csrf': '1', ...headers }, body: JSON.stringify({ query }) });
      return { res, body: await res.json() };
    };
    const reg = await gql(`mutation { register(input: { email: "proc@example.com", password: "${PASSWORD}" }) { account { id } } }`);
    expect(reg.body.errors).toBeUndefined();
    const cookie = reg.res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    // The verification mail, written by nodemailer's file transport into MAIL_DIR (the default).
    const mailDir = path.join(dataDir, 'mail');
    const mails = readdirSync(mailDir).map((file) => readFileSync(path.join(mailDir, file), 'utf8'));
    expect(mails).toHaveLength(1);
    expect(mails[0]).toContain('To: proc@example.com');
    expect(mails[0]?.replace(/=\r?\n/g, '')).toMatch(/token(=3D|=)[A-Za-z0-9_-]+/);
    // The hash written at registration verifies; a wrong password does not.
    const signIn = (password: string) => gql(`mutation { login(input: { email: "proc@example.com", password: "${password}" }) { account { id } } }`);
    const good = await signIn(PASSWORD);
    expect(good.body.data.login.account.id).toBe(reg.body.data.register.account.id);
    const bad = await signIn(`${PASSWORD}-wrong`);
    expect(bad.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const created = await gql('mutation { createApiKey(input: { name: "p", scope: READ, environment: TEST }) { apiKey { id } secret } }', { cookie });
    const { apiKey, secret } = created.body.data.createApiKey;
    const used = await gql('{ viewer { authMethod } }', { authorization: `Bearer ${secret}` });
    expect(used.body.data.viewer.authMethod).toBe('API_KEY');
    const page = await fetch(url, { headers: { accept: 'text/html', cookie } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'sha256-");
    expect(await page.text()).toContain('<title>Keyscope</title>');

    expect(await server.stop()).toBe(0);
    const output = server.output();
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
