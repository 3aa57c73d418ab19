// Browser defences: CORS from the allowlist only, cookie-carrying form/text requests refused,
// no mutations over GET, bodies over 1 MiB refused before parsing, security headers.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, type Signup, type TestApp, createTestApp, signUp, uniqueEmail } from '../harness.ts';

const ALLOWED = 'https://dashboard.example.com';
let t: TestApp;
let plain: TestApp;
let owner: Signup;
beforeAll(async () => {
  t = await createTestApp({ KEYSCOPE_CORS_ORIGINS: `${ALLOWED}, https://other.example.com` });
  plain = await createTestApp();
  owner = await signUp(t);
});
afterAll(async () => {
  await t.close();
  await plain.close();
});

const HEALTH = JSON.stringify({ query: '{ health { status } }' });
const post = (app: TestApp, headers: Record<string, string>, body: BodyInit = HEALTH) =>
  app.fetch('/graphql', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

async function count(app: TestApp, table: 'accounts' | 'sessions'): Promise<number> {
  return (await app.database.db.selectFrom(table).select('id').execute()).length;
}

describe('CORS', () => {
  it('gives an allow-listed origin Access-Control-Allow-Origin with credentials', async () => {
    const res = await post(t, { origin: ALLOWED });
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-expose-headers')).toMatch(/ratelimit/i);
    expect(res.headers.get('vary')).toMatch(/Origin/);
  });

  it('answers a preflight from an allow-listed origin, and names the headers Keyscope reads', async () => {
    const res = await t.fetch('/graphql', {
      method: 'OPTIONS',
      headers: { origin: ALLOWED, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-keyscope-csrf' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(res.headers.get('access-control-allow-headers')).toMatch(/x-keyscope-csrf/);
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST');
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('never reflects another origin, nor a look-alike, nor "null"', async () => {
    for (const origin of ['https://evil.example', 'https://dashboard.example.com.evil.example', `${ALLOWED}:444`, 'http://dashboard.example.com', 'null']) {
      for (const res of [
        await post(t, { origin }),
        await t.fetch('/graphql', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } }),
      ]) {
        expect(res.headers.get('access-control-allow-origin'), origin).toBeNull();
        expect(res.headers.get('access-control-allow-credentials'), origin).toBeNull();
      }
    }
  });

  it('reflects no origin at all when KEYSCOPE_CORS_ORIGINS is unset', async () => {
    const res = await post(plain, { origin: 'https://anywhere.example' });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });
});

describe('requests a cross-site page could send without a preflight', () => {
  const register = { query: 'mutation($input: CredentialsInput!) { register(input: $input) { account { id } } }' };

  it('refuses form and text content types that carry cookies with 415, before anything runs', async () => {
    const accounts = await count(t, 'accounts');
    const sessions = await count(t, 'sessions');
    const email = uniqueEmail();
    const variables = JSON.stringify({ input: { email, password: PASSWORD } });
    const form = new URLSearchParams({ query: register.query, variables }).toString();
    const multipart = new FormData();
    multipart.set('operations', JSON.stringify({ ...register, variables: JSON.parse(variables) }));
    multipart.set('map', '{}');
    for (const [contentType, body] of [
      ['application/x-www-form-urlencoded', form],
      ['application/x-www-form-urlencoded; charset=UTF-8', form],
      ['text/plain', JSON.stringify({ ...register, variables: JSON.parse(variables) })],
      ['TEXT/PLAIN;charset=utf-8', JSON.stringify({ ...register, variables: JSON.parse(variables) })],
    ] as const) {
      const res = await t.fetch('/graphql', { method: 'POST', headers: { 'content-type': contentType, cookie: owner.jar.header() }, body });
      expect(res.status, contentType).toBe(415);
      const json = await res.json();
      expect(json.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'content_type' });
      expect(json.errors[0].extensions.requestId).toBe(res.headers.get('x-request-id'));
    }
    // multipart/form-data (the browser sets its boundary)
    const res = await t.fetch('/graphql', { method: 'POST', headers: { cookie: 'ks_access=whatever' }, body: multipart });
    expect(res.status).toBe(415);
    await res.text();
    expect(await count(t, 'accounts')).toBe(accounts);
    expect(await count(t, 'sessions')).toBe(sessions);
  });

  it('still serves JSON requests with cookies', async () => {
    const res = await t.gql('{ viewer { authMethod } }', { session: owner.jar });
    expect(res.body.data.viewer.authMethod).toBe('SESSION');
  });

  it('refuses mutations over GET with 405, and runs nothing', async () => {
    const accounts = await count(t, 'accounts');
    const query = 'mutation { register(input: { email: "get@example.com", password: "correct horse battery" }) { account { id } } }';
    const res = await t.fetch(`/graphql?query=${encodeURIComponent(query)}`, { headers: { cookie: owner.jar.header(), 'x-keyscope-csrf': '1' } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    const json = await res.json();
    expect(json.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(await count(t, 'accounts')).toBe(accounts);
    // Queries over GET are fine.
    const get = await t.fetch(`/graphql?query=${encodeURIComponent('{ health { status } }')}`);
    expect(await get.json()).toEqual({ data: { health: { status: 'ok' } } });
  });
});

describe('request bodies over 1 MiB', () => {
  const oversized = () => JSON.stringify({ query: '{ health { status } }', variables: { padding: 'x'.repeat(1024 * 1024) } });

  it('are refused with 413 when Content-Length announces them', async () => {
    const res = await post(t, {}, oversized());
    expect(res.status).toBe(413);
    expect((await res.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('are refused with 413 when streamed without a Content-Length', async () => {
    const bytes = new TextEncoder().encode(oversized());
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled >= bytes.length) return controller.close();
        controller.enqueue(bytes.subarray(pulled, pulled + 64 * 1024));
        pulled += 64 * 1024;
      },
    });
    const res = await t.fetch('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    expect((await res.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('just under the limit is read', async () => {
    const res = await post(t, {}, JSON.stringify({ query: '{ health { status } }', variables: { padding: 'x'.repeat(1000 * 1000) } }));
    expect(res.status).toBe(200);
  });
});

describe('security headers', () => {
  it('GraphiQL: a CSP that allows only its own inline script, no framing, no referrer, nosniff', async () => {
    const res = await t.fetch('/graphql', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    const csp = res.headers.get('content-security-policy') ?? '';
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1] ?? '');
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) {
      expect(csp).toContain(`'sha256-${createHash('sha256').update(script).digest('base64')}'`);
    }
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(csp).not.toMatch(/unsafe-eval/);
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('API responses: nosniff, no framing, no caching', async () => {
    const res = await post(t, {});
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(res.headers.get('cache-control')).toBe('no-store');
  });
});
