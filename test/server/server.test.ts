import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { printKeyscopeSchema } from '../../src/schema/print.ts';
import { type TestApp, createTestApp } from '../harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

describe('health', () => {
  it('answers 200 {"status":"ok"} without credentials when the database answers', async () => {
    const res = await t.fetch('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('answers 503 when the database does not', async () => {
    const other = await createTestApp();
    await other.database.close();
    const res = await other.fetch('/health');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'unavailable' });
    await other.close();
  });

  it('is a GraphQL field too', async () => {
    expect((await t.gql('{ health { status } }')).body).toEqual({ data: { health: { status: 'ok' } } });
  });
});

describe('request ids', () => {
  it('puts the same id on the response and on every error', async () => {
    const res = await t.gql('{ viewer { authMethod } }');
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.errors[0].extensions.requestId).toBe(id);
  });

  it('echoes a safe client id and replaces an unsafe one', async () => {
    const safe = await t.gql('{ health { status } }', { headers: { 'x-request-id': 'client-123.abc' } });
    expect(safe.headers.get('x-request-id')).toBe('client-123.abc');
    const unsafe = await t.gql('{ health { status } }', { headers: { 'x-request-id': 'bad id <script>' } });
    expect(unsafe.headers.get('x-request-id')).not.toContain('script');
    const long = await t.gql('{ health { status } }', { headers: { 'x-request-id': 'a'.repeat(129) } });
    expect(long.headers.get('x-request-id')).not.toBe('a'.repeat(129));
  });
});

describe('access log', () => {
  it('writes one JSON line per request, the lines of one event-loop turn in one write', async () => {
    const logged = await createTestApp({ KEYSCOPE_LOG_REQUESTS: '1' });
    const writes: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array) => writes.push(String(chunk)) > 0) as typeof process.stdout.write;
    try {
      const responses = await Promise.all([1, 2, 3].map(() => logged.gql('{ viewer { authMethod } }')));
      // Not written yet: the lines wait for the end of the turn they were logged in.
      const before = writes.length;
      await new Promise((resolve) => setImmediate(resolve));
      expect(writes.length).toBeGreaterThan(before);
      const lines = writes.join('').trimEnd().split('\n').map((line) => JSON.parse(line));
      expect(lines.map((line) => line.requestId).sort()).toEqual(responses.map((r) => r.headers.get('x-request-id')).sort());
      expect(lines[0]).toMatchObject({ event: 'request', method: 'POST', path: '/graphql', auth: 'anonymous', status: 200 });
      // Three lines, fewer writes: a line is not a write system call of its own.
      expect(writes.length).toBeLessThan(lines.length);
    } finally {
      process.stdout.write = write;
      await logged.close();
    }
  });
});

describe('errors', () => {
  it('codes syntax and validation errors as BAD_USER_INPUT with the request id', async () => {
    for (const query of ['{ health { status }', '{ nope }']) {
      const res = await t.gql(query);
      expect(res.status).toBe(400);
      expect(res.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
      expect(res.body.errors[0].extensions.requestId).toBe(res.headers.get('x-request-id'));
    }
  });

  it('denies an anonymous caller with UNAUTHENTICATED and keeps the rest of the operation', async () => {
    const res = await t.gql('{ health { status } viewer { authMethod } }');
    expect(res.body.data).toEqual({ health: { status: 'ok' }, viewer: null });
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors[0]).toMatchObject({ path: ['viewer'], extensions: { code: 'UNAUTHENTICATED' } });
  });

  it('masks an unexpected failure: no stack, no SQL, code INTERNAL_SERVER_ERROR', async () => {
    const other = await createTestApp();
    const owner = await import('../harness.ts').then((h) => h.signUp(other));
    await other.database.close();
    const res = await other.gql('{ viewer { account { email } } }', { session: owner.jar });
    const text = JSON.stringify(res.body);
    expect(res.body.errors[0].extensions.code).toBe('INTERNAL_SERVER_ERROR');
    expect(text).not.toMatch(/select|stack|sqlite|at .*\.ts/i);
    await other.close();
  });
});

describe('GraphiQL', () => {
  it('is served to browsers from local assets, with header persistence off', async () => {
    const res = await t.fetch('/graphql', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('GraphiQL');
    expect(html).not.toMatch(/unpkg\.com|cdn\.jsdelivr|esm\.sh/);
    expect(html).toMatch(/"shouldPersistHeaders":false/);
  });
});

describe('schema.graphql', () => {
  it('is the schema printed from the code (run `npm run schema` after changing it)', () => {
    expect(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8')).toBe(printKeyscopeSchema());
  });

  it('declares the closed ErrorCode enum', () => {
    const schema = printKeyscopeSchema();
    for (const code of ['UNAUTHENTICATED', 'FORBIDDEN', 'PAYMENT_REQUIRED', 'RATE_LIMITED', 'BAD_USER_INPUT', 'NOT_FOUND', 'CONFLICT', 'INTERNAL_SERVER_ERROR']) {
      expect(schema).toMatch(new RegExp(`enum ErrorCode \\{[^}]*${code}`));
    }
  });
});
