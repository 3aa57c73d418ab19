// Persisted operations: an operator registers the typed client's documents by hash; with
// KEYSCOPE_PERSISTED_ONLY_FOR_LIVE=1 a LIVE key may run only those, while TEST keys,
// sessions (GraphiQL) and anonymous callers keep sending any query.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/ids.ts';
import { persistedOperationCommands } from '../../src/persisted-operations/persisted-operations.cli.ts';
import { databaseUrlOf } from '../database-url.ts';
import { type Signup, type TestApp, createKey, createTestApp, signUp } from '../harness.ts';
import { type Listening, listen } from '../listen.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MANIFEST = path.join(ROOT, 'examples/client-node/src/generated/persisted-documents.json');
const manifest = JSON.parse(readFileSync(MANIFEST, 'utf8')) as Record<string, string>;
const viewerEntry = Object.entries(manifest).find(([, document]) => document.startsWith('query Viewer'));
if (!viewerEntry) throw new Error('the generated manifest has no Viewer operation');
const [VIEWER_HASH, VIEWER_DOCUMENT] = viewerEntry;

async function node(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, NODE_ENV: 'test', KEYSCOPE_LOG_REQUESTS: '0', ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

const byHash = (hash: string) => ({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } } });

async function post(t: TestApp, body: unknown, headers: Record<string, string> = {}) {
  const response = await t.fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

describe('persisted operations with KEYSCOPE_PERSISTED_ONLY_FOR_LIVE=1', () => {
  let t: TestApp;
  let owner: Signup;
  let live: { id: string; secret: string };
  let testKey: { id: string; secret: string };

  beforeAll(async () => {
    t = await createTestApp({ KEYSCOPE_PERSISTED_ONLY_FOR_LIVE: '1' });
    owner = await signUp(t);
    live = await createKey(t, owner, { environment: 'LIVE', scope: 'READ' });
    testKey = await createKey(t, owner, { environment: 'TEST', scope: 'READ' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('`npm run keyscope -- persisted-operations register` stores the generated documents by hash, once', async () => {
    const env = { DATABASE_URL: await databaseUrlOf(t), KEYSCOPE_SECRET: t.config.serverSecret, KEYSCOPE_DATA_DIR: t.config.dataDir };
    const first = await node(['src/cli/main.ts', 'persisted-operations', 'register', MANIFEST], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`added ${VIEWER_HASH} Viewer\n`);
    expect(first.stdout).toContain(`registered ${Object.keys(manifest).length} new operation(s); 0 already registered\n`);
    const rows = await t.database.db.selectFrom('persisted_operations').selectAll().execute();
    expect(rows.map((r) => r.hash).sort()).toEqual(Object.keys(manifest).sort());
    expect(rows.find((r) => r.hash === VIEWER_HASH)).toMatchObject({ document: VIEWER_DOCUMENT, operation_name: 'Viewer' });

    const again = await node(['src/cli/main.ts', 'persisted-operations', 'register', MANIFEST], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`registered 0 new operation(s); ${Object.keys(manifest).length} already registered\n`);
  });

  it('refuses a whole file when one document does not hash to its id or does not validate, storing nothing', async () => {
    const good = '{ viewer { authMethod } }';
    const invalid = '{ viewer { nope } }';
    const file = path.join(t.config.dataDir, 'bad.json');
    writeFileSync(file, JSON.stringify({ [sha256(good)]: good, [sha256('other')]: '{ health { status } }', [sha256(invalid)]: invalid }));
    const lines: string[] = [];
    await expect(persistedOperationCommands['persisted-operations register'](t.database.db, ['persisted-operations', 'register', file], (l) => lines.push(l))).rejects.toThrow(
      /Nothing was registered[\s\S]*not the SHA-256 of the document text[\s\S]*Cannot query field "nope"/,
    );
    expect(lines).toEqual([]);
    const stored = await t.database.db.selectFrom('persisted_operations').select('hash').where('hash', '=', sha256(good)).execute();
    expect(stored).toEqual([]);
  });

  it('lets a LIVE key run a registered operation by hash, and refuses it any query text with 403 before execution', async () => {
    const registered = await post(t, byHash(VIEWER_HASH), { authorization: `Bearer ${live.secret}` });
    expect(registered.status).toBe(200);
    expect(registered.body.data.viewer).toMatchObject({ authMethod: 'API_KEY', apiKey: { id: live.id, environment: 'LIVE', scope: 'READ' } });

    const text = await post(t, { query: VIEWER_DOCUMENT }, { authorization: `Bearer ${live.secret}` });
    expect(text.status).toBe(403);
    expect(text.body.data).toBeUndefined();
    expect(text.body.errors).toHaveLength(1);
    expect(text.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'persisted_operation_required' });
    expect(text.body.errors[0].extensions.requestId).toBeTruthy();
  });

  it('answers an unknown hash with 400 BAD_USER_INPUT', async () => {
    const unknown = await post(t, byHash(sha256('query Unknown { health { status } }')), { authorization: `Bearer ${live.secret}` });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'persisted_operation_not_found' });
  });

  it('still lets TEST keys, sessions (GraphiQL) and anonymous callers send any query', async () => {
    const withTestKey = await t.gql('{ viewer { authMethod } }', { key: testKey.secret });
    expect(withTestKey.body.data).toEqual({ viewer: { authMethod: 'API_KEY' } });
    const withSession = await t.gql('{ viewer { authMethod } }', { session: owner.jar });
    expect(withSession.body.data).toEqual({ viewer: { authMethod: 'SESSION' } });
    const anonymous = await t.gql('{ health { status } }');
    expect(anonymous.body.data).toEqual({ health: { status: 'ok' } });
  });

  it('still applies the key restrictions to a registered operation', async () => {
    const restricted = await createKey(t, owner, { environment: 'LIVE', scope: 'READ', restrictions: { allowedOperations: ['health'] } });
    const res = await post(t, byHash(VIEWER_HASH), { authorization: `Bearer ${restricted.secret}` });
    expect(res.status).toBe(403);
    expect(res.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'operation_not_allowed' });
  });

  describe('the generated client (examples/client-node) with a LIVE key', () => {
    let server: Listening;
    beforeAll(async () => {
      server = await listen(t.app);
    });
    afterAll(async () => {
      await server?.close();
    });

    it('works when it sends hashes (KEYSCOPE_PERSISTED=1) and is refused when it sends text', async () => {
      const env = { KEYSCOPE_URL: server.graphqlUrl, KEYSCOPE_API_KEY: live.secret };
      const persisted = await node(['examples/client-node/src/main.ts'], { ...env, KEYSCOPE_PERSISTED: '1' });
      // Every step ran from its hash; the last is refused for the key's scope, not for being text.
      expect(persisted.stdout).toBe('viewer: API_KEY LIVE READ\ncredits: 0 (LIVE)\ncreateJob: error FORBIDDEN: this key lacks the WRITE scope\n');
      expect(persisted.code).toBe(1);
      const text = await node(['examples/client-node/src/main.ts'], env);
      expect(text.stdout).toBe('viewer: error FORBIDDEN: not allowed (persisted_operation_required)\n');
      expect(text.code).toBe(1);
    });
  });
});

describe('persisted operations without the restriction (the default)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('lets a LIVE key send any query text, and any caller use a registered hash', async () => {
    const owner = await signUp(t);
    const live = await createKey(t, owner, { environment: 'LIVE', scope: 'READ' });
    const text = await t.gql('{ viewer { authMethod } }', { key: live.secret });
    expect(text.body.data).toEqual({ viewer: { authMethod: 'API_KEY' } });

    await persistedOperationCommands['persisted-operations register'](t.database.db, ['persisted-operations', 'register', MANIFEST], () => {});
    const hashed = await post(t, byHash(VIEWER_HASH), { authorization: `Bearer ${live.secret}` });
    expect(hashed.body.data.viewer.authMethod).toBe('API_KEY');
    const bySession = await post(t, byHash(VIEWER_HASH), { cookie: owner.jar.header() });
    expect(bySession.body.data.viewer.authMethod).toBe('SESSION');
  });
});
