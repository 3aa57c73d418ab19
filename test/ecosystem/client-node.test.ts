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

  it('calls a live server with a key and prints what it is', async () => {
    const key = await createKey(t, owner, { environment: 'TEST', scope: 'READ' });
    const result = await runExample(server.graphqlUrl, key.secret);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('viewer: API_KEY TEST READ\n');
    expect(result.code).toBe(0);
  });

  it('switches on the generated ErrorCode: a field outside the key scope is FORBIDDEN with the scope it needs', async () => {
    const key = await createKey(t, owner, { environment: 'TEST', scope: 'WRITE' });
    const result = await runExample(server.graphqlUrl, key.secret);
    expect(result.stdout).toContain('viewer: error FORBIDDEN: this key lacks the READ scope\n');
    expect(result.code).toBe(1);
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
