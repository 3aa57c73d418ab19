// Fuzzing the HTTP surface with fast-check (bounded: a few hundred requests). Whatever is sent
// (random or mangled documents, variables of the wrong shape, odd headers, keys and cookies),
// the server never answers 5xx, never leaks a stack trace, SQL or a secret, and a request that
// wrote nothing visible to the client wrote nothing at all.
import fc from 'fast-check';
import {
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
} from 'graphql';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSchema } from '../../src/schema/index.ts';
import { type Signup, TEST_SECRET, type TestApp, createKey, createTestApp, domainTables, signUp } from '../harness.ts';

// Bounded for CI; KEYSCOPE_FUZZ_SCALE=20 (say) digs deeper locally.
const SCALE = Number(process.env.KEYSCOPE_FUZZ_SCALE ?? 1);
const schema = buildSchema();
const roots = (['Query', 'Mutation'] as const).flatMap((root) => {
  const type = (root === 'Query' ? schema.getQueryType() : schema.getMutationType()) as GraphQLObjectType;
  return Object.values(type.getFields()).map((field) => ({ root, field }));
});
const fieldNames = roots.map((r) => r.field.name);

let t: TestApp;
let owner: Signup;
const secrets: string[] = [TEST_SECRET];
const realKeys: string[] = [];
let countQuery = '';

/** Row counts of every table, in one statement. */
async function rowCounts(): Promise<Record<string, number>> {
  const result = await sql.raw<Record<string, number>>(countQuery).execute(t.database.db);
  return Object.fromEntries(Object.entries(result.rows[0] ?? {}).map(([k, v]) => [k, Number(v)]));
}

beforeAll(async () => {
  t = await createTestApp({ KEYSCOPE_ALLOW_PRIVATE_WEBHOOKS: '1' });
  owner = await signUp(t);
  for (const input of [{ scope: 'READ_WRITE' }, { scope: 'READ', environment: 'TEST' }, { scope: 'WRITE', environment: 'TEST' }]) {
    const key = await createKey(t, owner, input);
    realKeys.push(key.secret);
    secrets.push(key.secret);
  }
  const db = t.database.db;
  const tables = await domainTables(t.database);
  countQuery = `select ${tables.map((name) => `(select count(*) from "${name}") as "${name}"`).join(', ')}`;
  // Stored hashes must never come back either.
  for (const row of await db.selectFrom('api_key_secrets').select('hash').execute()) secrets.push(row.hash);
  for (const row of await db.selectFrom('accounts').select('password_hash').execute()) secrets.push(row.password_hash);
});
afterAll(async () => {
  await t.close();
});

// --- what is sent -----------------------------------------------------------------------

const junk = fc.string({ unit: 'binary', maxLength: 40 });
const vocabulary = fc.constantFrom(
  '{', '}', '(', ')', ':', '$', '@', '...', '!', '=', '[', ']', ',', '"', '"""', '#', '\n',
  'query', 'mutation', 'subscription', 'fragment', 'on', 'true', 'null', '1e999', '-0', '__schema', '__type', '__typename',
  'input', 'first', 'after', 'id', 'email', 'edges', 'node', '@skip(if: true)', '@include(if: $x)', '@deprecated',
  ...fieldNames,
);
const tokenSoup = fc.array(vocabulary, { maxLength: 60 }).map((tokens) => tokens.join(' '));

/** A valid operation for a root field, then (sometimes) mangled by a few character edits. */
function operationFor(root: 'Query' | 'Mutation', field: GraphQLField<unknown, unknown>): string {
  const args = field.args.map((a) => `$${a.name}: ${String(a.type)}`).join(', ');
  const passed = field.args.map((a) => `${a.name}: $${a.name}`).join(', ');
  const selection = isLeafType(getNamedType(field.type)) ? '' : ' { __typename }';
  return `${root === 'Query' ? 'query' : 'mutation'} F${args ? `(${args})` : ''} { ${field.name}${passed ? `(${passed})` : ''}${selection} }`;
}

function valueFor(type: GraphQLInputType, depth = 0): fc.Arbitrary<unknown> {
  const wrong = fc.oneof(fc.constant(null), fc.integer(), fc.double(), fc.string(), fc.boolean(), fc.constant({}), fc.constant([]));
  const right: fc.Arbitrary<unknown> = (() => {
    if (isNonNullType(type)) return valueFor(type.ofType, depth);
    if (isListType(type)) return fc.array(valueFor(type.ofType, depth + 1), { maxLength: 3 });
    if (isEnumType(type)) return fc.constantFrom(...type.getValues().map((v) => v.value));
    if (isInputObjectType(type)) {
      if (depth > 3) return fc.constant({});
      const fields = Object.values(type.getFields());
      return fc.record(Object.fromEntries(fields.map((f) => [f.name, valueFor(f.type, depth + 1)])), { requiredKeys: [] });
    }
    switch (type.name) {
      case 'Int':
        return fc.oneof(fc.integer({ min: -5, max: 200 }), fc.constantFrom(0, -1, 2 ** 31, Number.MAX_SAFE_INTEGER));
      case 'Boolean':
        return fc.boolean();
      case 'DateTime':
        return fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string());
      case 'ID':
        return fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('key_', 'job_0000', 'acct_x', "'; drop table accounts; --"));
      case 'JSON':
        return fc.jsonValue({ maxDepth: 3 });
      default:
        return fc.oneof(
          fc.string({ maxLength: 50 }),
          fc.string({ unit: 'grapheme', maxLength: 30 }),
          fc.emailAddress(),
          fc.constantFrom('', ' ', 'https://example.com/x', 'http://127.0.0.1/', 'x'.repeat(5000), "' or 1=1 --", '\u0000', 'job.completed'),
        );
    }
  })();
  return fc.oneof({ weight: 5, arbitrary: right }, { weight: 1, arbitrary: wrong });
}

const structured = fc
  .constantFrom(...roots)
  .chain(({ root, field }) =>
    fc.record({
      query: fc.oneof(
        { weight: 4, arbitrary: fc.constant(operationFor(root, field)) },
        {
          weight: 1,
          arbitrary: fc
            .tuple(fc.nat(), fc.nat({ max: 5 }), fc.string({ maxLength: 3 }))
            .map(([at, cut, insert]) => {
              const text = operationFor(root, field);
              const i = at % (text.length + 1);
              return text.slice(0, i) + insert + text.slice(i + cut);
            }),
        },
      ),
      variables: fc.record(Object.fromEntries(field.args.map((a) => [a.name, valueFor(a.type)])), { requiredKeys: [] }),
    }),
  );

const credentials = fc.oneof(
  fc.constant({}),
  fc.constantFrom(...[0, 1, 2].map((i) => ({ authorization: `Bearer ${realKeys[i] ?? ''}` }))),
  fc.constant({ session: true, csrf: true }),
  fc.constant({ session: true, csrf: false }),
  junk.map((value) => ({ authorization: `Bearer ${value}` })),
  junk.map((value) => ({ authorization: value })),
  junk.map((value) => ({ 'x-api-key': value })),
  fc.constantFrom('sk_live_', 'sk_test_').chain((prefix) => fc.string({ minLength: 30, maxLength: 60 }).map((rest) => ({ 'x-api-key': prefix + rest }))),
  junk.map((value) => ({ cookie: value })),
  junk.map((value) => ({ cookie: `ks_access=${value}; ks_refresh=${value}` })),
);

const extraHeaders = fc.record(
  {
    'x-request-id': junk,
    'x-forwarded-for': fc.oneof(junk, fc.ipV4(), fc.ipV6()),
    origin: fc.oneof(junk, fc.webUrl()),
    referer: fc.oneof(junk, fc.webUrl()),
    accept: fc.constantFrom('application/json', 'application/graphql-response+json', 'text/html', 'text/event-stream', 'multipart/mixed', '*/*', ''),
    'content-type': fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/graphql', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', ''),
  },
  { requiredKeys: [] },
);

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

function withCredentials(headers: Record<string, string>, creds: Record<string, unknown>): Record<string, string> {
  const out = { ...headers };
  for (const [name, value] of Object.entries(creds)) if (typeof value === 'string') out[name] = value;
  if (creds.session) out.cookie = owner.jar.header();
  if (creds.csrf) out['x-keyscope-csrf'] = '1';
  return out;
}

// Header values must be ByteStrings without CR/LF/NUL for fetch to accept them at all.
function headerSafe(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.replace(/[^\x20-\x7e\t]/g, '?')]));
}

// --- what must hold ------------------------------------------------------------------------

const LEAKS = [
  /\n\s+at [^\n]+:\d+:\d+/, // stack frames
  /node_modules|\/work\/|\.ts:\d+/,
  /SQLITE_|better-sqlite3|syntax error at or near|violates (unique|foreign key|not-null)|duplicate key value|relation "[a-z_]+"/i,
  /\$argon2/,
];

async function send(request: Sent): Promise<void> {
  const before = await rowCounts();
  const res = await t.fetch(request.path, { method: request.method, headers: headerSafe(request.headers), body: request.body });
  const text = await res.text();
  const label = `${request.method} ${request.path} ${JSON.stringify(request.headers).slice(0, 300)} ${request.body?.slice(0, 300)}`;
  expect(res.status, label).toBeLessThan(500);
  // The GraphiQL page is a static bundle; what matters is every other answer.
  if (res.headers.get('content-type')?.startsWith('text/html')) return;
  for (const leak of LEAKS) expect(leak.test(text), `${leak} in ${text.slice(0, 500)} for ${label}`).toBe(false);
  for (const secret of secrets) expect(text.includes(secret), `secret leaked: ${label}`).toBe(false);
  if (res.headers.get('content-type')?.includes('json') && text) {
    const body = JSON.parse(text);
    for (const error of body.errors ?? []) {
      expect(['UNAUTHENTICATED', 'FORBIDDEN', 'PAYMENT_REQUIRED', 'RATE_LIMITED', 'BAD_USER_INPUT', 'NOT_FOUND', 'CONFLICT'], `${label} ${JSON.stringify(error)}`).toContain(
        error.extensions?.code,
      );
      expect(error.extensions?.stacktrace, label).toBeUndefined();
    }
    // Nothing the client was told succeeded means nothing was written.
    const succeeded = body.data && Object.values(body.data).some((value) => value !== null);
    if (!succeeded) expect(await rowCounts(), `partial write: ${label}`).toEqual(before);
  }
}

describe('what the fuzzer found', () => {
  it('a variable that does not fit its input type is BAD_USER_INPUT, not a masked server error', async () => {
    const res = await t.gql('mutation F($input: SetWebhookInput!) { setWebhook(input: $input) { __typename } }', { variables: { input: {} }, session: owner.jar });
    expect(res.body.errors.length).toBeGreaterThan(0);
    for (const error of res.body.errors) {
      expect(error.extensions.code).toBe('BAD_USER_INPUT');
      expect(error.message).toMatch(/^Variable "\$input" got invalid value/);
    }
  });
});

describe('fuzzing the HTTP surface', () => {
  it('random and mangled documents, random bodies and methods', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH'),
        fc.oneof(
          tokenSoup.map((query) => JSON.stringify({ query })),
          junk.map((query) => JSON.stringify({ query })),
          junk,
          fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
          fc.record({ query: tokenSoup, variables: fc.jsonValue({ maxDepth: 2 }), operationName: fc.oneof(junk, fc.constant(null)), extensions: fc.jsonValue({ maxDepth: 2 }) }).map((v) => JSON.stringify(v)),
          fc.constant('[{"query":"{ health { status } }"},{"query":"{ health { status } }"}]'),
        ),
        extraHeaders,
        credentials,
        async (method, body, headers, creds) => {
          const hasBody = method !== 'GET';
          const path = hasBody ? '/graphql' : `/graphql?query=${encodeURIComponent(body.slice(0, 500))}`;
          await send({ method, path, headers: withCredentials({ 'content-type': 'application/json', ...headers }, creds), body: hasBody ? body : undefined });
        },
      ),
      { numRuns: 120 * SCALE },
    );
  });

  it('every root field with variables of the right and the wrong shape, under every kind of credential', async () => {
    await fc.assert(
      fc.asyncProperty(structured, credentials, fc.option(junk.map((n) => n || null)), async ({ query, variables }, creds, operationName) => {
        const body = JSON.stringify({ query, variables, ...(operationName ? { operationName } : {}) });
        await send({ method: 'POST', path: '/graphql', headers: withCredentials({ 'content-type': 'application/json', accept: 'application/graphql-response+json' }, creds), body });
      }),
      { numRuns: 200 * SCALE },
    );
  });

  it('odd URLs: keys in the query string, unknown paths, GraphiQL, health', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/graphql', '/health', '/', '/graphql/', '/_yoga/liveness', '/nope', '/graphql?api_key=sk_live_x', '/graphql?key=x&query={health{status}}'),
        fc.string({ maxLength: 40 }),
        extraHeaders,
        credentials,
        async (path, suffix, headers, creds) => {
          const separator = path.includes('?') ? '&' : '?';
          await send({ method: 'GET', path: `${path}${separator}q=${encodeURIComponent(suffix)}`, headers: withCredentials(headers, creds) });
        },
      ),
      { numRuns: 60 * SCALE },
    );
  });
});
