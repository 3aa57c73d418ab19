// The security matrix: every root field of the built schema (a new field is covered without
// touching this file), called with each kind of credential an attacker might hold, gets the
// contract's answer and changes nothing in the database.
//   no credentials      -> UNAUTHENTICATED on the field (public fields run)
//   malformed / revoked / expired key -> HTTP 401, WWW-Authenticate: Bearer, one error, nothing runs
//   key without the scope -> FORBIDDEN with requiredScope; API key on a session-only field -> FORBIDDEN
//   TEST key            -> allowed where keys are, never charged; session-only fields FORBIDDEN
//   another account's object -> NOT_FOUND, the object unchanged
import { sql } from 'kysely';
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
  isScalarType,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPublic, keyRead, keyReadOrSession, keyWrite, keyWriteOrSession, permissionMap, sessionOnly } from '../../src/auth/permissions.ts';
import { buildSchema } from '../../src/schema/index.ts';
import { PASSWORD, type GqlOptions, type GqlResponse, type Signup, type TestApp, createKey, createTestApp, domainTables, signUp, uniqueEmail } from '../harness.ts';

type Access = 'public' | 'session' | 'read' | 'write' | 'readOrSession' | 'writeOrSession';
const ACCESS = new Map<unknown, Access>([
  [isPublic, 'public'],
  [sessionOnly, 'session'],
  [keyRead, 'read'],
  [keyWrite, 'write'],
  [keyReadOrSession, 'readOrSession'],
  [keyWriteOrSession, 'writeOrSession'],
]);

interface RootField {
  root: 'Query' | 'Mutation';
  field: GraphQLField<unknown, unknown>;
  access: Access;
  /** Takes the id of an existing object somewhere in its arguments. */
  takesId: boolean;
}

const schema = buildSchema();
const rootFields: RootField[] = (['Query', 'Mutation'] as const).flatMap((root) => {
  const type = (root === 'Query' ? schema.getQueryType() : schema.getMutationType()) as GraphQLObjectType;
  const rules: Record<string, unknown> = permissionMap[root];
  return Object.values(type.getFields()).map((field) => {
    const access = ACCESS.get(rules[field.name]);
    if (!access) throw new Error(`${root}.${field.name} has no rule this matrix knows`);
    return { root, field, access, takesId: field.args.some((a) => isNonNullType(a.type) && requiresId(a.type)) };
  });
});

function requiresId(type: GraphQLInputType): boolean {
  if (isNonNullType(type)) return requiresId(type.ofType);
  if (isListType(type)) return requiresId(type.ofType);
  if (isScalarType(type)) return type.name === 'ID';
  if (isInputObjectType(type)) return Object.values(type.getFields()).some((f) => isNonNullType(f.type) && requiresId(f.type));
  return false;
}

/** Plausible values, so that ownership (not input validation) is what a field decides on. */
function sample(type: GraphQLInputType, name: string, ids: { key: string; job: string }, fieldName: string): unknown {
  if (isNonNullType(type)) return sample(type.ofType, name, ids, fieldName);
  if (isListType(type)) return name === 'events' ? ['job.completed'] : [sample(type.ofType, name, ids, fieldName)];
  if (isEnumType(type)) return type.getValues()[0]?.value;
  if (isInputObjectType(type)) {
    const value: Record<string, unknown> = {};
    for (const f of Object.values(type.getFields())) {
      if (isNonNullType(f.type) && f.defaultValue === undefined) value[f.name] = sample(f.type, f.name, ids, fieldName);
    }
    return value;
  }
  switch (type.name) {
    case 'ID':
      return /job/i.test(fieldName) ? ids.job : ids.key;
    case 'Int':
      return { first: 1, gracePeriodSeconds: 0, requests: 10, windowSeconds: 1, overlapSeconds: 0 }[name] ?? 1;
    case 'Boolean':
      return false;
    case 'DateTime':
      return new Date(Date.now() + 86_400_000).toISOString();
    case 'JSON':
      return {};
    default:
      if (name === 'email') return uniqueEmail();
      if (name === 'password') return PASSWORD;
      if (name === 'url') return 'http://127.0.0.1:9/hook';
      return `matrix-${name}`;
  }
}

function operation(f: RootField, ids: { key: string; job: string }): { query: string; variables: Record<string, unknown> } {
  const required = f.field.args.filter((a) => isNonNullType(a.type) && a.defaultValue === undefined);
  const definitions = required.map((a) => `$${a.name}: ${String(a.type)}`).join(', ');
  const args = required.map((a) => `${a.name}: $${a.name}`).join(', ');
  const selection = isLeafType(getNamedType(f.field.type)) ? '' : ' { __typename }';
  const query = `${f.root === 'Query' ? 'query' : 'mutation'} Matrix${definitions ? `(${definitions})` : ''} { ${f.field.name}${args ? `(${args})` : ''}${selection} }`;
  const variables = Object.fromEntries(required.map((a) => [a.name, sample(a.type, a.name, ids, f.field.name)]));
  return { query, variables };
}

let t: TestApp;
let victim: Signup;
let attacker: Signup;
const victimIds = { key: '', job: '' };
const keys = { readWrite: '', read: '', write: '', test: '', revoked: '', expired: '' };

/** Every row of every table of this test's database, except counters kept outside the domain. */
async function snapshot(): Promise<Record<string, unknown[]>> {
  const db = t.database.db;
  const dump: Record<string, unknown[]> = {};
  for (const table of await domainTables(t.database)) {
    const rows = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(db);
    dump[table] = rows.rows.map((r) => JSON.stringify(r)).sort();
  }
  return dump;
}

beforeAll(async () => {
  t = await createTestApp({ KEYSCOPE_ALLOW_PRIVATE_WEBHOOKS: '1' });
  victim = await signUp(t);
  attacker = await signUp(t);
  victimIds.key = (await createKey(t, victim, { environment: 'TEST' })).id;
  const victimTest = await createKey(t, victim, { environment: 'TEST', name: 'victim test' });
  const job = await t.gql('mutation { createJob(input: { kind: STAGE }) { job { id } } }', { key: victimTest.secret });
  victimIds.job = job.body.data?.createJob?.job?.id ?? 'missing';
  keys.readWrite = (await createKey(t, attacker, { scope: 'READ_WRITE' })).secret;
  keys.read = (await createKey(t, attacker, { scope: 'READ' })).secret;
  keys.write = (await createKey(t, attacker, { scope: 'WRITE' })).secret;
  keys.test = (await createKey(t, attacker, { scope: 'READ_WRITE', environment: 'TEST' })).secret;
  const revoked = await createKey(t, attacker);
  await t.gql('mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }', { variables: { id: revoked.id }, session: attacker.jar });
  keys.revoked = revoked.secret;
  keys.expired = (await createKey(t, attacker, { expiresAt: new Date(t.clock.now() + 2000).toISOString() })).secret;
  t.clock.advance(3000);
});
afterAll(async () => {
  await t.close();
});

async function call(f: RootField, credentials: GqlOptions): Promise<GqlResponse> {
  const { query, variables } = operation(f, victimIds);
  return t.gql(query, { ...credentials, variables });
}

function fieldError(res: GqlResponse, f: RootField) {
  return res.body.errors?.find((e: { path?: string[] }) => e.path?.[0] === f.field.name);
}

/** Runs `check` for each field and then asserts the database did not change. */
async function withoutChanges(fields: RootField[], check: (f: RootField) => Promise<void>): Promise<void> {
  const before = await snapshot();
  for (const f of fields) await check(f);
  expect(await snapshot()).toEqual(before);
}

const name = (f: RootField) => `${f.root}.${f.field.name}`;
const guarded = () => rootFields.filter((f) => f.access !== 'public');

describe('security matrix', () => {
  it('knows every root field and its rule', () => {
    expect(rootFields.length).toBeGreaterThan(20);
    expect(rootFields.filter((f) => f.takesId).length).toBeGreaterThan(3);
  });

  it('no credentials: UNAUTHENTICATED on every non-public field, public fields answer without a server error', async () => {
    await withoutChanges(guarded(), async (f) => {
      const res = await call(f, {});
      expect(res.status, name(f)).toBeLessThan(500);
      expect(res.body.data?.[f.field.name], name(f)).toBeNull();
      expect(fieldError(res, f)?.extensions.code, name(f)).toBe('UNAUTHENTICATED');
    });
    for (const f of rootFields.filter((x) => x.access === 'public')) {
      const res = await call(f, {});
      expect(res.status, name(f)).toBeLessThan(500);
      expect(JSON.stringify(res.body), name(f)).not.toMatch(/INTERNAL_SERVER_ERROR/);
    }
  });

  for (const [label, pick] of [
    ['malformed key', () => 'sk_live_0000000000000000000000000000000000000000'],
    ['mistyped key', () => `${keys.readWrite.slice(0, -1)}${keys.readWrite.endsWith('A') ? 'B' : 'A'}`],
    ['revoked key', () => keys.revoked],
    ['expired key', () => keys.expired],
  ] as const) {
    it(`${label}: every field, public ones included, is refused as a whole with 401`, async () => {
      await withoutChanges(rootFields, async (f) => {
        const res = await call(f, { key: pick() });
        expect(res.status, name(f)).toBe(401);
        expect(res.headers.get('www-authenticate'), name(f)).toBe('Bearer');
        expect(res.body.data, name(f)).toBeUndefined();
        expect(res.body.errors, name(f)).toHaveLength(1);
        expect(res.body.errors[0].extensions.code, name(f)).toBe('UNAUTHENTICATED');
      });
    });
  }

  it('key without the scope, or an API key on a session-only field: FORBIDDEN, nothing runs', async () => {
    await withoutChanges(guarded(), async (f) => {
      const needs = f.access === 'read' || f.access === 'readOrSession' ? 'READ' : f.access === 'session' ? null : 'WRITE';
      const key = needs === 'READ' ? keys.write : needs === 'WRITE' ? keys.read : keys.readWrite;
      const res = await call(f, { key });
      expect(res.status, name(f)).toBe(200);
      expect(res.body.data?.[f.field.name], name(f)).toBeNull();
      const error = fieldError(res, f);
      expect(error?.extensions.code, name(f)).toBe('FORBIDDEN');
      if (needs) expect(error?.extensions.requiredScope, name(f)).toBe(needs);
      else expect(error?.extensions.reason, name(f)).toBe('session_required');
    });
  });

  it('TEST key: allowed wherever keys are, refused on session-only fields, and never charged', async () => {
    const balance = async () => (await t.database.db.selectFrom('accounts').select('credit_balance').where('id', '=', attacker.accountId).executeTakeFirstOrThrow()).credit_balance;
    const ledger = async () => (await t.database.db.selectFrom('credit_ledger').select('id').where('account_id', '=', attacker.accountId).execute()).length;
    const [balanceBefore, ledgerBefore] = [await balance(), await ledger()];
    for (const f of rootFields) {
      const res = await call(f, { key: keys.test });
      expect(res.status, name(f)).toBeLessThan(500);
      const code = fieldError(res, f)?.extensions.code;
      if (f.access === 'session') expect(code, name(f)).toBe('FORBIDDEN');
      else if (f.access === 'public') expect(code, name(f)).not.toBe('INTERNAL_SERVER_ERROR');
      else expect(['UNAUTHENTICATED', 'FORBIDDEN', 'INTERNAL_SERVER_ERROR'], `${name(f)}: ${code}`).not.toContain(code);
    }
    expect(await balance()).toBe(balanceBefore);
    expect(await ledger()).toBe(ledgerBefore);
  });

  it("another account's object: NOT_FOUND, and it is left unchanged", async () => {
    // The ids are real: their owner finds them.
    const own = await t.gql('query($id: ID!) { apiKey(id: $id) { id } }', { variables: { id: victimIds.key }, session: victim.jar });
    expect(own.body.data.apiKey.id).toBe(victimIds.key);
    expect(victimIds.job).toMatch(/^job_/);
    await withoutChanges(
      rootFields.filter((f) => f.takesId),
      async (f) => {
        const credentials: GqlOptions = f.access === 'session' ? { session: attacker.jar } : { key: keys.test };
        const res = await call(f, credentials);
        expect(res.status, name(f)).toBeLessThan(500);
        expect(res.body.data?.[f.field.name], name(f)).toBeNull();
        expect(fieldError(res, f)?.extensions.code, name(f)).toBe('NOT_FOUND');
      },
    );
  });
});
