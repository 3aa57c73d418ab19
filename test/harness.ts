// createTestApp(): a Keyscope app on a fresh, migrated database (a temporary SQLite file,
// or a schema of its own on TEST_DATABASE_URL), exercised through Yoga's real HTTP handling.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { type KeyscopeApp, createApp } from '../src/app.ts';
import { type Config, loadConfig } from '../src/config.ts';
import { type DatabaseHandle, connectDatabase } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import type { Clock } from '../src/deps.ts';
import type { MailMessage, Mailer } from '../src/mail/mailer.ts';
import { type Worker, type WorkerOptions, startWorkers } from '../src/workers.ts';

export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123456789';
export const dialect = process.env.TEST_DATABASE_URL ? 'postgres' : 'sqlite';

export interface GqlResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever the server sent
  body: any;
}

export interface GqlOptions {
  variables?: Record<string, unknown>;
  headers?: Record<string, string>;
  /** Sends the session cookies of this jar, with the CSRF header unless `csrf: false`. */
  session?: CookieJar;
  csrf?: boolean;
  key?: string;
  remoteAddress?: string;
  operationName?: string;
}

/** Cookies as a browser would keep them, from Set-Cookie headers. */
export class CookieJar {
  readonly cookies = new Map<string, string>();

  store(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (!pair || eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/max-age=0/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.cookies].map(([n, v]) => `${n}=${v}`).join('; ');
  }

  clone(): CookieJar {
    const jar = new CookieJar();
    for (const [n, v] of this.cookies) jar.cookies.set(n, v);
    return jar;
  }
}

export class TestClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
  }
}

export class MemoryMailer implements Mailer {
  readonly sent: MailMessage[] = [];
  async send(message: MailMessage): Promise<void> {
    this.sent.push(message);
  }
  /** The `token=` of the newest mail to `to` whose subject matches. */
  tokenFor(to: string, subject: RegExp): string {
    const mail = [...this.sent].reverse().find((m) => m.to === to && subject.test(m.subject));
    const token = mail && /token=([A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
    if (!token) throw new Error(`no mail with a token to ${to}`);
    return token;
  }
}

export interface TestApp {
  app: KeyscopeApp;
  config: Config;
  database: DatabaseHandle;
  clock: TestClock;
  mailer: MemoryMailer;
  fetch(pathname: string, init?: RequestInit, remoteAddress?: string): Promise<Response>;
  gql(query: string, options?: GqlOptions): Promise<GqlResponse>;
  close(): Promise<void>;
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'keyscope-test-'));
  return loadConfig({
    NODE_ENV: 'test',
    KEYSCOPE_SECRET: TEST_SECRET,
    KEYSCOPE_DATA_DIR: dataDir,
    DATABASE_URL: `file:${path.join(dataDir, 'keyscope.db')}`,
    KEYSCOPE_DEFAULT_RATE_LIMIT: '100000/1s',
    // Most files sign up many accounts from 127.0.0.1; the per-IP tests set their own limit.
    KEYSCOPE_AUTH_IP_LIMIT: '100000/1s',
    ...overrides,
  });
}

/**
 * For a test file that needs only a database: a fresh one (see freshDatabase) opened before
 * the file's tests and closed and dropped after them. Call at the file's top level.
 */
export function databaseForThisFile(): () => DatabaseHandle {
  let fresh: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  beforeAll(async () => {
    fresh = await freshDatabase(testConfig());
  });
  afterAll(async () => {
    await fresh?.database.close();
    await fresh?.drop();
  });
  return () => {
    if (!fresh) throw new Error('the database is opened in beforeAll');
    return fresh.database;
  };
}

/** A fresh database: a temporary SQLite file, or a new schema on TEST_DATABASE_URL. */
export async function freshDatabase(config: Config): Promise<{ database: DatabaseHandle; url: string; drop(): Promise<void> }> {
  const pgUrl = process.env.TEST_DATABASE_URL;
  if (!pgUrl) {
    const database = connectDatabase(config.databaseUrl);
    await migrateToLatest(database.db);
    return { database, url: config.databaseUrl, drop: async () => rmSync(config.dataDir, { recursive: true, force: true }) };
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const database = connectDatabase(pgUrl, { pgSchema: schema, pgPoolSize: 12 });
  await migrateToLatest(database.db, { pgSchema: schema });
  return {
    database,
    url: pgUrl,
    async drop() {
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
      rmSync(config.dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestAppOptions {
  /** Start the background workers (jobs, webhooks) with these options. */
  workers?: WorkerOptions;
}

export async function createTestApp(overrides: Record<string, string> = {}, options: TestAppOptions = {}): Promise<TestApp> {
  const config = testConfig(overrides);
  const { database, drop } = await freshDatabase(config);
  const clock = new TestClock();
  const mailer = new MemoryMailer();
  const app = createApp({ config, database, clock, mailer });
  const workers: Worker | null = options.workers ? startWorkers(app.deps, options.workers) : null;
  const fetch = (pathname: string, init?: RequestInit, remoteAddress = '127.0.0.1') =>
    Promise.resolve(app.yoga.fetch(`http://localhost${pathname}`, init ?? {}, { remoteAddress }));
  return {
    app,
    config,
    database,
    clock,
    mailer,
    fetch,
    async gql(query, options = {}) {
      const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...options.headers };
      if (options.session) {
        headers.cookie = options.session.header();
        if (options.csrf !== false) headers['x-keyscope-csrf'] = '1';
      }
      if (options.key) headers.authorization = `Bearer ${options.key}`;
      const response = await fetch(
        '/graphql',
        { method: 'POST', headers, body: JSON.stringify({ query, variables: options.variables, operationName: options.operationName }) },
        options.remoteAddress,
      );
      options.session?.store(response.headers);
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
    },
    async close() {
      await workers?.stop();
      // Some tests close the database on purpose; the schema or file is dropped regardless.
      await app.flush().catch(() => {});
      await database.close().catch(() => {});
      await drop();
    },
  };
}

let counter = 0;
export function uniqueEmail(): string {
  counter += 1;
  return `user${counter}-${randomBytes(3).toString('hex')}@example.com`;
}

export const PASSWORD = 'correct horse battery';

export interface Signup {
  email: string;
  accountId: string;
  jar: CookieJar;
}

/** Registers an account through the API; `verified` follows the emailed link. */
export async function signUp(t: TestApp, options: { verified?: boolean } = {}): Promise<Signup> {
  const email = uniqueEmail();
  const jar = new CookieJar();
  const res = await t.gql('mutation($input: CredentialsInput!) { register(input: $input) { account { id } } }', {
    variables: { input: { email, password: PASSWORD } },
    session: jar,
  });
  const accountId = res.body.data?.register?.account?.id;
  if (!accountId) throw new Error(`register failed: ${JSON.stringify(res.body)}`);
  if (options.verified !== false) {
    const token = t.mailer.tokenFor(email, /Verify/);
    await t.gql('mutation($t: String!) { verifyEmail(input: { token: $t }) { account { emailVerified } } }', { variables: { t: token } });
  }
  return { email, accountId, jar };
}

export async function createKey(
  t: TestApp,
  owner: Signup,
  input: { scope?: string; environment?: string; name?: string; expiresAt?: string; restrictions?: unknown; rateLimit?: unknown } = {},
): Promise<{ id: string; secret: string }> {
  const res = await t.gql(
    'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { apiKey { id } secret } }',
    { variables: { input: { name: 'test key', scope: 'READ_WRITE', environment: 'LIVE', ...input } }, session: owner.jar },
  );
  const payload = res.body.data?.createApiKey;
  if (!payload) throw new Error(`createApiKey failed: ${JSON.stringify(res.body)}`);
  return { id: payload.apiKey.id, secret: payload.secret };
}

/**
 * The tables of this test's own database or schema, except bookkeeping and counters kept
 * outside the domain (migrations, rate limits, cost budgets, usage). A plain catalog query:
 * Kysely's introspection reads every schema and fails when another test file drops its
 * schema at the same moment.
 */
export async function domainTables(database: DatabaseHandle): Promise<string[]> {
  const rows =
    database.dialect === 'postgres'
      ? await sql<{ name: string }>`select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = current_schema() and c.relkind = 'r'`.execute(database.db)
      : await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`.execute(database.db);
  return rows.rows.map((r) => r.name).filter((name) => !/^(kysely_|keyscope_rate|keyscope_cost|usage_daily)/.test(name)).sort();
}
