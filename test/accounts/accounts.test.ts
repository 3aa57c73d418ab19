import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CookieJar, PASSWORD, type TestApp, createTestApp, signUp, uniqueEmail } from '../harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const REGISTER = 'mutation($input: CredentialsInput!) { register(input: $input) { account { id email emailVerified } } }';
const LOGIN = 'mutation($input: CredentialsInput!) { login(input: $input) { account { id } } }';
const VIEWER = '{ viewer { authMethod account { id email emailVerified } apiKey { id } } }';
const REFRESH = 'mutation { refreshSession { account { id } } }';

describe('register', () => {
  it('creates an account, sets hardened session cookies and signs in', async () => {
    const jar = new CookieJar();
    const email = uniqueEmail();
    const res = await t.gql(REGISTER, { variables: { input: { email: email.toUpperCase(), password: PASSWORD } }, session: jar });
    expect(res.status).toBe(200);
    expect(res.body.data.register.account).toMatchObject({ email, emailVerified: false });
    expect(res.body.data.register.account.id).toMatch(/^acct_/);
    const cookies = res.headers.getSetCookie();
    expect(cookies).toHaveLength(2);
    for (const cookie of cookies) {
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Lax/);
    }
    const viewer = await t.gql(VIEWER, { session: jar });
    expect(viewer.body.data.viewer).toMatchObject({ authMethod: 'SESSION', account: { email }, apiKey: null });
  });

  it('refuses a short password, a too long one and a bad email, creating nothing', async () => {
    const email = uniqueEmail();
    for (const [input, field] of [
      [{ email, password: 'short' }, 'password'],
      [{ email, password: 'x'.repeat(257) }, 'password'],
      [{ email: 'not-an-email', password: PASSWORD }, 'email'],
    ] as const) {
      const res = await t.gql(REGISTER, { variables: { input } });
      expect(res.body.data.register).toBeNull();
      expect(res.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    const count = await t.database.db.selectFrom('accounts').select((eb) => eb.fn.countAll().as('n')).where('email', '=', email).executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(0);
  });

  it('accepts a 256-character password without truncating it', async () => {
    const email = uniqueEmail();
    const long = 'p'.repeat(256);
    expect((await t.gql(REGISTER, { variables: { input: { email, password: long } } })).body.data.register).not.toBeNull();
    const almost = `${'p'.repeat(255)}q`;
    const res = await t.gql(LOGIN, { variables: { input: { email, password: almost } } });
    expect(res.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('refuses a duplicate email with CONFLICT', async () => {
    const { email } = await signUp(t, { verified: false });
    const res = await t.gql(REGISTER, { variables: { input: { email, password: PASSWORD } } });
    expect(res.body.errors[0].extensions.code).toBe('CONFLICT');
  });
});

describe('login', () => {
  it('answers the same for a wrong password and an unknown email', async () => {
    const { email } = await signUp(t, { verified: false });
    const wrong = await t.gql(LOGIN, { variables: { input: { email, password: 'wrong password!' } } });
    const unknown = await t.gql(LOGIN, { variables: { input: { email: uniqueEmail(), password: PASSWORD } } });
    expect(wrong.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(wrong.body.errors[0].message).toBe(unknown.body.errors[0].message);
    expect(wrong.headers.getSetCookie()).toHaveLength(0);
  });

  it('starts a fresh session each time (no fixation)', async () => {
    const { email, jar } = await signUp(t, { verified: false });
    const before = jar.header();
    const res = await t.gql(LOGIN, { variables: { input: { email, password: PASSWORD } }, session: jar });
    expect(res.body.data.login.account.id).toMatch(/^acct_/);
    expect(jar.header()).not.toBe(before);
    const sessions = await t.database.db.selectFrom('sessions').select('sessions.id').innerJoin('accounts', 'accounts.id', 'sessions.account_id').where('accounts.email', '=', email).execute();
    expect(sessions).toHaveLength(2);
  });
});

describe('CSRF', () => {
  it('refuses a cookie-authenticated mutation without X-Keyscope-CSRF', async () => {
    const owner = await signUp(t);
    const res = await t.gql('mutation { logout { ok } }', { session: owner.jar, csrf: false });
    expect(res.status).toBe(403);
    expect(res.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'csrf' });
    // Nothing ran: the session still works.
    expect((await t.gql(VIEWER, { session: owner.jar })).body.data.viewer.authMethod).toBe('SESSION');
  });

  it('lets cookie-authenticated queries through without it', async () => {
    const owner = await signUp(t);
    const res = await t.gql(VIEWER, { session: owner.jar, csrf: false });
    expect(res.body.data.viewer.authMethod).toBe('SESSION');
  });
});

describe('sessions', () => {
  it('rotates the refresh cookie, and a replayed one ends the whole session', async () => {
    const owner = await signUp(t, { verified: false });
    const stolen = owner.jar.clone();
    const first = await t.gql(REFRESH, { session: owner.jar });
    expect(first.body.data.refreshSession.account.id).toBe(owner.accountId);
    expect(owner.jar.header()).not.toBe(stolen.header());

    const replay = await t.gql(REFRESH, { session: stolen });
    expect(replay.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(replay.body.errors[0].message).toMatch(/already used/);

    // The legitimate holder's newer cookies are dead too.
    const after = await t.gql(VIEWER, { session: owner.jar });
    expect(after.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    const refreshAgain = await t.gql(REFRESH, { session: owner.jar });
    expect(refreshAgain.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('expires the access cookie after minutes; refreshSession renews it', async () => {
    const owner = await signUp(t, { verified: false });
    t.clock.advance(16 * 60 * 1000);
    try {
      const expired = await t.gql(VIEWER, { session: owner.jar });
      expect(expired.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
      await t.gql(REFRESH, { session: owner.jar });
      const renewed = await t.gql(VIEWER, { session: owner.jar });
      expect(renewed.body.data.viewer.account.id).toBe(owner.accountId);
    } finally {
      t.clock.advance(-16 * 60 * 1000);
    }
  });

  it('logout ends the session on the server, not only in the browser', async () => {
    const owner = await signUp(t, { verified: false });
    const copy = owner.jar.clone();
    const res = await t.gql('mutation { logout { ok } }', { session: owner.jar });
    expect(res.body.data.logout.ok).toBe(true);
    expect(owner.jar.cookies.size).toBe(0);
    expect((await t.gql(VIEWER, { session: copy })).body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect((await t.gql(REFRESH, { session: copy })).body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });
});

describe('email verification', () => {
  it('verifies with the emailed token, once', async () => {
    const owner = await signUp(t, { verified: false });
    const token = t.mailer.tokenFor(owner.email, /Verify/);
    const mutation = 'mutation($t: String!) { verifyEmail(input: { token: $t }) { account { emailVerified } } }';
    expect((await t.gql(mutation, { variables: { t: token } })).body.data.verifyEmail.account.emailVerified).toBe(true);
    expect((await t.gql(mutation, { variables: { t: token } })).body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('voids the previous link when a new one is sent', async () => {
    const owner = await signUp(t, { verified: false });
    const old = t.mailer.tokenFor(owner.email, /Verify/);
    await t.gql('mutation($e: String!) { resendVerificationEmail(input: { email: $e }) { ok } }', { variables: { e: owner.email } });
    const fresh = t.mailer.tokenFor(owner.email, /Verify/);
    expect(fresh).not.toBe(old);
    const mutation = 'mutation($t: String!) { verifyEmail(input: { token: $t }) { account { emailVerified } } }';
    expect((await t.gql(mutation, { variables: { t: old } })).body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect((await t.gql(mutation, { variables: { t: fresh } })).body.data.verifyEmail.account.emailVerified).toBe(true);
  });
});

describe('password reset', () => {
  const REQUEST = 'mutation($e: String!) { requestPasswordReset(input: { email: $e }) { ok } }';
  const RESET = 'mutation($t: String!, $p: String!) { resetPassword(input: { token: $t, password: $p }) { ok } }';

  it('answers the same for unknown emails and sends nothing', async () => {
    const before = t.mailer.sent.length;
    const res = await t.gql(REQUEST, { variables: { e: uniqueEmail() } });
    expect(res.body).toEqual({ data: { requestPasswordReset: { ok: true } } });
    expect(t.mailer.sent.length).toBe(before);
  });

  it('resets with the emailed token, ends every session, and refuses the used token', async () => {
    const owner = await signUp(t, { verified: false });
    await t.gql(REQUEST, { variables: { e: owner.email } });
    const token = t.mailer.tokenFor(owner.email, /Reset/);
    const ok = await t.gql(RESET, { variables: { t: token, p: 'a brand new password' } });
    expect(ok.body.data.resetPassword.ok).toBe(true);
    expect((await t.gql(VIEWER, { session: owner.jar })).body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    const again = await t.gql(RESET, { variables: { t: token, p: 'another new password' } });
    expect(again.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    const login = await t.gql(LOGIN, { variables: { input: { email: owner.email, password: 'a brand new password' } } });
    expect(login.body.data.login.account.id).toBe(owner.accountId);
    const oldPassword = await t.gql(LOGIN, { variables: { input: { email: owner.email, password: PASSWORD } } });
    expect(oldPassword.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('refuses a weak new password without using up the token', async () => {
    const owner = await signUp(t, { verified: false });
    await t.gql(REQUEST, { variables: { e: owner.email } });
    const token = t.mailer.tokenFor(owner.email, /Reset/);
    expect((await t.gql(RESET, { variables: { t: token, p: 'short' } })).body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect((await t.gql(RESET, { variables: { t: token, p: 'long enough now' } })).body.data.resetPassword.ok).toBe(true);
  });
});
