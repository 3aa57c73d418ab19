// Query limits (graphql-armor and graphql-js's introspection depth rule), refused before any
// resolver runs with BAD_USER_INPUT and a plain message; introspection and field suggestions
// only for authenticated callers in production.
import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUERY_LIMITS } from '../../src/http/query-limits.ts';
import { type GqlOptions, type TestApp, createKey, createTestApp, signUp, uniqueEmail } from '../harness.ts';

/** What GraphiQL sends on load (graphiql 5 asks for these options). */
const GRAPHIQL_INTROSPECTION = getIntrospectionQuery({ inputValueDeprecation: true, schemaDescription: true, specifiedByUrl: true, directiveIsRepeatable: true, oneOf: true });

let prod: TestApp;
let dev: TestApp;
beforeAll(async () => {
  prod = await createTestApp({ NODE_ENV: 'production' });
  dev = await createTestApp({ NODE_ENV: 'development' });
});
afterAll(async () => {
  await prod.close();
  await dev.close();
});

async function accountCount(t: TestApp): Promise<number> {
  return (await t.database.db.selectFrom('accounts').select('id').execute()).length;
}

describe('armor limits', () => {
  const refusedBeforeExecution = async (query: string, reason: string, message: RegExp, options: GqlOptions = {}) => {
    const before = await accountCount(prod);
    // The document's register mutation is the operation asked for; the rest of the document breaks a limit.
    const res = await prod.gql(query, { operationName: 'R', ...options, variables: { input: { email: uniqueEmail(), password: 'correct horse battery' } } });
    expect(res.status).toBe(400);
    expect(res.body.data).toBeUndefined();
    expect(res.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason });
    expect(res.body.errors[0].message).toMatch(/^Query refused before execution: /);
    expect(res.body.errors[0].message).toMatch(message);
    expect(res.body.errors[0].message).not.toMatch(/Syntax Error/);
    // A register mutation in the document never ran.
    expect(await accountCount(prod)).toBe(before);
    return res;
  };

  it('refuses more aliases than allowed, counting those inside fragments', async () => {
    const aliases = Array.from({ length: QUERY_LIMITS.aliases + 1 }, (_, i) => `r${i}: register(input: $input) { account { id } }`).join(' ');
    await refusedBeforeExecution(`mutation R($input: CredentialsInput!) { ${aliases} }`, 'max_aliases', /Aliases limit of 15 exceeded, found 16/);
    const half = Array.from({ length: 8 }, (_, i) => `h${i}: health { status }`).join(' ');
    await refusedBeforeExecution(
      `mutation R($input: CredentialsInput!) { register(input: $input) { account { id } } } query A { ...F ...G } fragment F on Query { ${half} } fragment G on Query { ${half.replaceAll('h', 'g')} }`,
      'max_aliases',
      /Aliases limit/,
    );
  });

  it('refuses documents deeper than the limit, through fragments too', async () => {
    // armor skips `__schema` but not `__type`: its ofType chain nests as deep as one likes.
    const chain = (levels: number) => `${'ofType { '.repeat(levels)}name${' }'.repeat(levels)}`;
    const owner = await signUp(prod);
    const ok = await prod.gql(`{ __type(name: "Query") { ${chain(QUERY_LIMITS.depth - 2)} } }`, { session: owner.jar });
    expect(ok.body.errors).toBeUndefined();
    const deep = await refusedBeforeExecution(
      `mutation R($input: CredentialsInput!) { register(input: $input) { account { id } } } query Q { __type(name: "Query") { ${chain(QUERY_LIMITS.depth)} } }`,
      'max_depth',
      /Query depth limit of 10 exceeded, found 12/,
      { session: owner.jar },
    );
    expect(deep.body.errors).toHaveLength(1);
    // Fragments do not hide depth.
    await refusedBeforeExecution(
      `mutation R($input: CredentialsInput!) { register(input: $input) { account { id } } } query Q { __type(name: "Query") { ...A } } fragment A on __Type { ofType { ...B } } fragment B on __Type { ${chain(QUERY_LIMITS.depth)} }`,
      'max_depth',
      /Query depth limit of 10 exceeded/,
      { session: owner.jar },
    );
  });

  it('refuses more tokens than allowed, before parsing finishes', async () => {
    const padding = Array.from({ length: 600 }, () => 'health { status }').join(' ');
    await refusedBeforeExecution(`mutation R($input: CredentialsInput!) { register(input: $input) { account { id } } } query P { ${padding} }`, 'max_tokens', /Token limit of 1000 exceeded/);
  });

  it('refuses more directives than allowed', async () => {
    const directives = Array.from({ length: QUERY_LIMITS.directives + 1 }, () => '@include(if: true)').join(' ');
    await refusedBeforeExecution(`mutation R($input: CredentialsInput!) { register(input: $input) ${directives} { account { id } } }`, 'max_directives', /Directives limit of 20 exceeded, found 21/);
  });

  it('refuses a literal cost above armor\'s coarse bound', async () => {
    const pages = Array.from({ length: 11 }, (_, i) => `p${i}: apiKeys(first: 100) { edges { node { id } } }`).join(' ');
    await refusedBeforeExecution(`mutation R($input: CredentialsInput!) { register(input: $input) { account { id } } } query C { ${pages} }`, 'max_cost', /Cost limit of 2000 exceeded/);
  });

  it('lets deep introspection pass armor but not graphql-js (3 levels of lists at most)', async () => {
    const owner = await signUp(prod);
    const bomb = '{ __schema { types { fields { type { fields { type { fields { type { name } } } } } } } } }';
    const res = await prod.gql(bomb, { session: owner.jar });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(res.body.errors[0].message).toMatch(/Maximum introspection depth exceeded/);
  });
});

describe('introspection and GraphiQL', () => {
  it("allows GraphiQL's own introspection query to sessions and API keys in production", async () => {
    const owner = await signUp(prod);
    const key = await createKey(prod, owner, { environment: 'TEST' });
    for (const credentials of [{ session: owner.jar }, { key: key.secret }]) {
      const res = await prod.gql(GRAPHIQL_INTROSPECTION, credentials);
      expect(res.status).toBe(200);
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.__schema.queryType.name).toBe('Query');
    }
  });

  it('refuses introspection to anonymous callers in production, even right after an authenticated caller ran the same document', async () => {
    const owner = await signUp(prod);
    const documents = [GRAPHIQL_INTROSPECTION, '{ __type(name: "ApiKey") { fields { name } } }', '{ __schema { queryType { name } } }'];
    for (const query of documents) {
      expect((await prod.gql(query, { session: owner.jar })).body.errors).toBeUndefined();
      const anonymous = await prod.gql(query);
      expect(anonymous.status).toBe(400);
      expect(anonymous.body.data).toBeUndefined();
      expect(anonymous.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
      expect(anonymous.body.errors[0].message).toMatch(/introspection has been disabled/);
      // And the other way round: the anonymous verdict is not served to the session.
      expect((await prod.gql(query, { session: owner.jar })).body.errors).toBeUndefined();
    }
    // __typename is not introspection of the schema and stays available.
    expect((await prod.gql('{ __typename }')).body).toEqual({ data: { __typename: 'Query' } });
  });

  it('allows introspection to anonymous callers in development', async () => {
    const res = await dev.gql(GRAPHIQL_INTROSPECTION);
    expect(res.status).toBe(200);
    expect(res.body.data.__schema.queryType.name).toBe('Query');
  });

  it('serves GraphiQL in production to a signed-in session only', async () => {
    const owner = await signUp(prod);
    const anonymous = await prod.fetch('/graphql', { headers: { accept: 'text/html' } });
    expect(anonymous.headers.get('content-type') ?? '').not.toContain('text/html');
    await anonymous.text();
    const signedIn = await prod.fetch('/graphql', { headers: { accept: 'text/html', cookie: owner.jar.header() } });
    expect(signedIn.status).toBe(200);
    expect(signedIn.headers.get('content-type')).toContain('text/html');
    await signedIn.text();
    const forged = await prod.fetch('/graphql', { headers: { accept: 'text/html', cookie: owner.jar.header().replace(/=([^.;]+)\./, '=x$1.') } });
    expect(forged.headers.get('content-type') ?? '').not.toContain('text/html');
    await forged.text();
  });
});

describe('field suggestions', () => {
  const typos = [
    ['{ healt { status } }', /Cannot query field "healt" on type "Query"\./],
    ['{ health { statuss } }', /Cannot query field "statuss" on type "Health"\./],
    ['query($e: Environmen) { health { status } }', /Unknown type "Environmen"\./],
    ['mutation { register(inptu: {}) { account { id } } }', /Unknown argument "inptu"/],
  ] as const;

  for (const [label, t] of [
    ['production', () => prod],
    ['development', () => dev],
  ] as const) {
    it(`are hidden from anonymous callers in ${label}`, async () => {
      for (const [query, message] of typos) {
        const res = await t().gql(query);
        expect(res.body.errors.length).toBeGreaterThan(0);
        expect(res.body.errors.some((e: { message: string }) => message.test(e.message)), query).toBe(true);
        expect(JSON.stringify(res.body)).not.toMatch(/Did you mean/);
      }
      const enumValue = await t().gql('query($input: CreateApiKeyInput!) { __typename } mutation M($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }', {
        operationName: 'M',
        variables: { input: { name: 'x', scope: 'READ', environment: 'LIV' } },
      });
      expect(JSON.stringify(enumValue.body)).not.toMatch(/Did you mean/);
    });

    it(`are shown to authenticated callers in ${label}`, async () => {
      const owner = await signUp(t());
      const res = await t().gql('{ healt { status } }', { session: owner.jar });
      expect(res.body.errors[0].message).toMatch(/Did you mean "health"\?/);
    });
  }
});
