// The generated typed client in examples/client-node, used as its users would: generated
// from the committed schema.graphql, type-checked by tsc, and run against a live server.
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generate } from '@graphql-codegen/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENERATED_DIR, clientCodegenConfig } from '../../examples/client-node/codegen.ts';
import { grantCredits } from '../../src/credits/credits.service.ts';
import { type Signup, type TestApp, createKey, createTestApp, signUp } from '../harness.ts';
import { type Listening, listen } from '../listen.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLE = path.join(ROOT, 'examples/client-node');

interface ProgramRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the example program as a user would (tsx), with its two environment variables. */
async function runExample(graphqlUrl: string, apiKey: string, extraEnv: Record<string, string> = {}): Promise<ProgramRun> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', path.join(EXAMPLE, 'src/main.ts')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, KEYSCOPE_URL: graphqlUrl, KEYSCOPE_API_KEY: apiKey, ...extraEnv },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe('examples/client-node', () => {
  let t: TestApp;
  let server: Listening;
  let owner: Signup;

  beforeAll(async () => {
    t = await createTestApp();
    server = await listen(t.app);
    owner = await signUp(t);
  });

  afterAll(async () => {
    await server?.close();
    await t?.close();
  });

  it('is what `npm run codegen` generates from the committed schema.graphql and operations', async () => {
    const outputs = (await generate(clientCodegenConfig(), false)) as { filename: string; content: string }[];
    const generatedDir = path.join(ROOT, GENERATED_DIR);
    const expected = new Map(outputs.map((o) => [path.resolve(ROOT, o.filename), o.content]));
    const committed = readdirSync(generatedDir).map((name) => path.join(generatedDir, name));
    expect(committed.sort(), 'generated files differ: run `npm run codegen`').toEqual([...expected.keys()].sort());
    for (const [file, content] of expected) {
      expect(readFileSync(file, 'utf8'), `${path.relative(ROOT, file)} is stale: run \`npm run codegen\``).toBe(content);
    }
  });

  it('type-checks with tsc (strict, noUncheckedIndexedAccess)', async () => {
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', EXAMPLE], { cwd: ROOT, timeout: 60_000 }).catch((error: { stdout?: string }) => ({
      stdout: error.stdout ?? 'tsc failed',
    }));
    expect(result.stdout).toBe('');
  });

  it('calls a live server with a TEST key: who it is, the balance, and a job that is not charged', async () => {
    const key = await createKey(t, owner, { environment: 'TEST', scope: 'READ_WRITE' });
    const result = await runExample(server.graphqlUrl, key.secret);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^viewer: API_KEY TEST READ_WRITE\ncredits: 0 \(TEST\)\ncreateJob: job_\w+ STAGE QUEUED cost=1 charged=0 remaining=0\n$/);
    expect(result.code).toBe(0);
    const jobs = await t.database.db.selectFrom('jobs').select(['key_id', 'environment', 'charged']).where('key_id', '=', key.id).execute();
    expect(jobs).toEqual([{ key_id: key.id, environment: 'TEST', charged: 0 }]);
  });

  it('is charged with a LIVE key, and reads PAYMENT_REQUIRED from the generated enum once the credits run out', async () => {
    const key = await createKey(t, owner, { environment: 'LIVE', scope: 'READ_WRITE' });
    await grantCredits({ db: t.database.db, clock: t.clock }, { email: owner.email, amount: 2 });
    const env = { KEYSCOPE_JOB_KIND: 'PLACE_PRODUCTS' };
    const paid = await runExample(server.graphqlUrl, key.secret, env);
    expect(paid.stdout).toMatch(/^viewer: API_KEY LIVE READ_WRITE\ncredits: 2 \(LIVE\)\ncreateJob: job_\w+ PLACE_PRODUCTS QUEUED cost=2 charged=2 remaining=0\n$/);
    expect(paid.code).toBe(0);
    const ledger = await t.database.db.selectFrom('credit_ledger').select(['kind', 'amount']).where('key_id', '=', key.id).execute();
    expect(ledger).toEqual([{ kind: 'debit', amount: -2 }]);
    const refused = await runExample(server.graphqlUrl, key.secret, env);
    expect(refused.stdout).toBe(
      'viewer: API_KEY LIVE READ_WRITE\ncredits: 0 (LIVE)\ncreateJob: error PAYMENT_REQUIRED: not enough credits: 0 left, 2 needed\n',
    );
    expect(refused.code).toBe(1);
  });

  it('reads FORBIDDEN with the scope a field needs', async () => {
    const readOnly = await createKey(t, owner, { environment: 'TEST', scope: 'READ' });
    const read = await runExample(server.graphqlUrl, readOnly.secret);
    expect(read.stdout).toBe('viewer: API_KEY TEST READ\ncredits: 0 (TEST)\ncreateJob: error FORBIDDEN: this key lacks the WRITE scope\n');
    expect(read.code).toBe(1);
    const writeOnly = await createKey(t, owner, { environment: 'TEST', scope: 'WRITE' });
    const write = await runExample(server.graphqlUrl, writeOnly.secret);
    expect(write.stdout).toMatch(
      /^viewer: error FORBIDDEN: this key lacks the READ scope\ncredits: error FORBIDDEN: this key lacks the READ scope\ncreateJob: job_\w+ STAGE QUEUED cost=1 charged=0 remaining=0\n$/,
    );
    expect(write.code).toBe(1);
  });

  it('stops at UNAUTHENTICATED when the key is revoked', async () => {
    const key = await createKey(t, owner, { environment: 'TEST', scope: 'READ' });
    const revoked = await t.gql('mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { revokedAt } } }', {
      variables: { id: key.id },
      session: owner.jar,
    });
    expect(revoked.body.data.revokeApiKey.apiKey.revokedAt).not.toBeNull();
    const result = await runExample(server.graphqlUrl, key.secret);
    expect(result.stdout).toBe(
      'viewer: error UNAUTHENTICATED: the API key was refused (malformed, unknown, revoked or expired): check KEYSCOPE_API_KEY\n',
    );
    expect(result.code).toBe(1);
  });
});
