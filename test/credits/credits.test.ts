import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands, runCli } from '../../src/cli/main.ts';
import { checkLedger, hashClaimCode } from '../../src/credits/credits.service.ts';
import { TEST_SECRET, type TestApp, createKey, createTestApp, signUp } from '../harness.ts';
import {
  CREATE_JOB,
  CREDITS,
  balanceOf,
  currentPgSchema,
  deliveriesOf,
  grant,
  jobsOf,
  ledgerOf,
  operator,
  subscribeWebhook,
  tick,
} from './credits-helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  // Whatever the tests did, every balance is the sum of its ledger.
  const check = await checkLedger({ db: t.database.db });
  await t.close();
  expect(check).toMatchObject({ ok: true, mismatches: [], claimCodeMismatches: [] });
});

const CLAIM = 'mutation($code: String!) { claimCredits(input: { code: $code }) { balance } }';

async function claimCode(amount: number, extra: string[] = []): Promise<string> {
  const lines = await operator(t, ['claim-code', 'create', '--amount', String(amount), ...extra]);
  const code = lines.at(-1);
  if (!code) throw new Error('no code printed');
  return code;
}

describe('credits query', () => {
  it('shows the LIVE balance to sessions and LIVE keys, and the same balance labelled TEST to TEST keys', async () => {
    const owner = await signUp(t);
    await grant(t, owner.email, 7);
    const live = await createKey(t, owner, { scope: 'READ', environment: 'LIVE' });
    const test = await createKey(t, owner, { scope: 'READ', environment: 'TEST' });
    expect((await t.gql(CREDITS, { session: owner.jar })).body.data.credits).toEqual({ balance: 7, environment: 'LIVE' });
    expect((await t.gql(CREDITS, { key: live.secret })).body.data.credits).toEqual({ balance: 7, environment: 'LIVE' });
    expect((await t.gql(CREDITS, { key: test.secret })).body.data.credits).toEqual({ balance: 7, environment: 'TEST' });
  });

  it('needs READ scope or a session', async () => {
    const owner = await signUp(t);
    const writeOnly = await createKey(t, owner, { scope: 'WRITE' });
    const res = await t.gql(CREDITS, { key: writeOnly.secret });
    expect(res.body.data.credits).toBeNull();
    expect(res.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', requiredScope: 'READ' });
    const anonymous = await t.gql(CREDITS);
    expect(anonymous.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });
});

describe('debits', () => {
  it('50 concurrent debits on a hot account end exactly at zero; the 10 beyond pay nothing; every success is in the ledger', async () => {
    const owner = await signUp(t);
    await grant(t, owner.email, 50);
    const key = await createKey(t, owner, { scope: 'READ_WRITE' });
    const results = await Promise.all(
      Array.from({ length: 60 }, () => t.gql(CREATE_JOB, { key: key.secret, variables: { input: { kind: 'STAGE' } } })),
    );
    const ok = results.filter((r) => r.body.data?.createJob);
    const refused = results.filter((r) => !r.body.data?.createJob);
    expect(ok).toHaveLength(50);
    expect(refused).toHaveLength(10);
    for (const r of refused) {
      expect(r.body.errors[0].extensions).toMatchObject({ code: 'PAYMENT_REQUIRED', creditsRemaining: 0, creditsRequired: 1 });
      expect(r.body.extensions.credits).toMatchObject({ charged: 0, remaining: 0 });
    }
    for (const r of ok) expect(r.body.extensions.credits.charged).toBe(1);
    const remainders = ok.map((r) => r.body.extensions.credits.remaining).sort((a: number, b: number) => a - b);
    expect(remainders).toEqual(Array.from({ length: 50 }, (_, i) => i));

    expect(await balanceOf(t, owner.accountId)).toBe(0);
    const debits = (await ledgerOf(t, owner.accountId)).filter((e) => e.kind === 'debit');
    expect(debits).toHaveLength(50);
    const jobIds = ok.map((r) => r.body.data.createJob.job.id).sort();
    expect(debits.map((e) => e.job_id).sort()).toEqual(jobIds);
    expect(debits.every((e) => e.amount === -1 && e.key_id === key.id && e.actor === `api_key:${key.id}`)).toBe(true);
    expect((await jobsOf(t, owner.accountId)).map((j) => j.id).sort()).toEqual(jobIds);
    // balance_after runs 49 … 0 without gaps or repeats.
    expect(debits.map((e) => e.balance_after).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('10 requests of 5 aliased createJob on 1 credit make exactly one job', async () => {
    const owner = await signUp(t);
    await grant(t, owner.email, 1);
    const key = await createKey(t, owner);
    const aliased = `mutation { ${[1, 2, 3, 4, 5].map((i) => `j${i}: createJob(input: { kind: STAGE }) { job { id } }`).join(' ')} }`;
    const results = await Promise.all(Array.from({ length: 10 }, () => t.gql(aliased, { key: key.secret })));
    const created = results.flatMap((r) => Object.values(r.body.data ?? {}).filter(Boolean));
    expect(created).toHaveLength(1);
    const errors = results.flatMap((r) => r.body.errors ?? []);
    expect(errors).toHaveLength(49);
    expect(errors.every((e: { extensions: { code: string } }) => e.extensions.code === 'PAYMENT_REQUIRED')).toBe(true);
    expect(await jobsOf(t, owner.accountId)).toHaveLength(1);
    expect(await balanceOf(t, owner.accountId)).toBe(0);
    expect((await ledgerOf(t, owner.accountId)).filter((e) => e.kind === 'debit')).toHaveLength(1);
  });

  it('charges each aliased field on its own and reports the sum in extensions.credits', async () => {
    const owner = await signUp(t);
    await grant(t, owner.email, 10);
    const key = await createKey(t, owner);
    const res = await t.gql('mutation { a: createJob(input: { kind: STAGE }) { job { id cost } } b: createJob(input: { kind: PLACE_PRODUCTS }) { job { id cost } } }', {
      key: key.secret,
    });
    expect(res.body.data.a.job.cost).toBe(1);
    expect(res.body.data.b.job.cost).toBe(2);
    expect(res.body.extensions.credits).toEqual({ charged: 3, remaining: 7, cost: 3 });
    expect(await balanceOf(t, owner.accountId)).toBe(7);
  });

  it('refuses with PAYMENT_REQUIRED when the balance is short, and records nothing', async () => {
    const owner = await signUp(t);
    await grant(t, owner.email, 1);
    const key = await createKey(t, owner);
    const res = await t.gql(CREATE_JOB, { key: key.secret, variables: { input: { kind: 'PLACE_PRODUCTS', idempotencyKey: 'short-1' } } });
    expect(res.status).toBe(200);
    expect(res.body.data.createJob).toBeNull();
    expect(res.body.errors[0].extensions).toMatchObject({ code: 'PAYMENT_REQUIRED', creditsRemaining: 1, creditsRequired: 2 });
    expect(res.body.extensions.credits).toMatchObject({ charged: 0, remaining: 1 });
    expect(await jobsOf(t, owner.accountId)).toHaveLength(0);
    expect((await ledgerOf(t, owner.accountId)).map((e) => e.kind)).toEqual(['grant']);
    const idempotency = await t.database.db.selectFrom('idempotency_keys').selectAll().where('account_id', '=', owner.accountId).execute();
    expect(idempotency).toHaveLength(0);
  });

  it('never charges TEST keys, but their jobs and responses show the cost', async () => {
    const owner = await signUp(t);
    const key = await createKey(t, owner, { environment: 'TEST' });
    const res = await t.gql(CREATE_JOB, { key: key.secret, variables: { input: { kind: 'PLACE_PRODUCTS' } } });
    expect(res.body.data.createJob.job).toMatchObject({ status: 'QUEUED', cost: 2, charged: 0 });
    expect(res.body.extensions.credits).toEqual({ charged: 0, remaining: 0, cost: 2 });
    expect(await ledgerOf(t, owner.accountId)).toHaveLength(0);
    const [job] = await jobsOf(t, owner.accountId);
    expect(job).toMatchObject({ environment: 'TEST', cost: 2, charged: 0 });
  });

  it('honours KEYSCOPE_JOB_COSTS', async () => {
    const priced = await createTestApp({ KEYSCOPE_JOB_COSTS: 'ENHANCE=5' });
    try {
      const owner = await signUp(priced);
      await operator(priced, ['credits', 'grant', '--email', owner.email, '--amount', '6']);
      const key = await createKey(priced, owner);
      const res = await priced.gql(CREATE_JOB, { key: key.secret, variables: { input: { kind: 'ENHANCE' } } });
      expect(res.body.data.createJob.job).toMatchObject({ cost: 5, charged: 5 });
      expect(await balanceOf(priced, owner.accountId)).toBe(1);
    } finally {
      await priced.close();
    }
  });

  it('sends credits.low when a debit crosses the threshold downward, once', async () => {
    const owner = await signUp(t);
    await grant(t, owner.email, 4);
    const key = await createKey(t, owner);
    const other = await createKey(t, owner);
    await subscribeWebhook(t, owner.accountId, key.id, ['credits.low']);
    await subscribeWebhook(t, owner.accountId, other.id, ['job.completed']);
    const settings = await t.gql('mutation { updateSettings(input: { lowBalanceThreshold: 2 }) { settings { lowBalanceThreshold } } }', { session: owner.jar });
    expect(settings.body.data.updateSettings.settings.lowBalanceThreshold).toBe(2);
    for (let i = 0; i < 4; i += 1) await t.gql(CREATE_JOB, { key: key.secret, variables: { input: { kind: 'STAGE' } } });
    const low = await deliveriesOf(t, key.id, 'credits.low');
    expect(low).toHaveLength(1);
    expect(JSON.parse(low[0]!.payload)).toMatchObject({ type: 'credits.low', data: { balance: 2, threshold: 2 } });
    expect(await deliveriesOf(t, other.id, 'credits.low')).toHaveLength(0);
  });
});

describe('claim codes', () => {
  it('are created by the command line, which prints the code alone on its last line and stores only its hash', async () => {
    const lines = await operator(t, ['claim-code', 'create', '--amount', '25', '--max-redemptions', '2', '--expires', '30']);
    const code = lines.at(-1)!;
    expect(code).toMatch(/^ksc_[0-9A-Za-z]{24}$/);
    const row = await t.database.db.selectFrom('claim_codes').selectAll().where('code_hash', '=', hashClaimCode(code)).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ amount: 25, max_redemptions: 2, redemptions: 0 });
    expect(row.expires_at).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    expect(JSON.stringify(row)).not.toContain(code);
  });

  it('add credits once per account, with a ledger entry and an audit event', async () => {
    const code = await claimCode(30, ['--max-redemptions', '5']);
    const owner = await signUp(t);
    const res = await t.gql(CLAIM, { variables: { code }, session: owner.jar });
    expect(res.body.data.claimCredits).toEqual({ balance: 30 });
    const again = await t.gql(CLAIM, { variables: { code }, session: owner.jar });
    expect(again.body.errors[0].extensions.code).toBe('CONFLICT');
    expect(await balanceOf(t, owner.accountId)).toBe(30);
    const ledger = await ledgerOf(t, owner.accountId);
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({ kind: 'claim', amount: 30, balance_after: 30 });
    const audit = await t.gql('{ auditEvents(action: "credits.claimed") { edges { node { action actorType ip metadata } } } }', { session: owner.jar });
    const events = audit.body.data.auditEvents.edges;
    expect(events).toHaveLength(1);
    expect(events[0].node).toMatchObject({ action: 'credits.claimed', actorType: 'SESSION', ip: '127.0.0.1', metadata: { amount: 30 } });
    expect(JSON.stringify(events)).not.toContain(code);
  });

  it('never go past their redemption limit, even under concurrency', async () => {
    const code = await claimCode(10, ['--max-redemptions', '3']);
    const people = await Promise.all(Array.from({ length: 8 }, () => signUp(t, { verified: false })));
    const results = await Promise.all(people.map((p) => t.gql(CLAIM, { variables: { code }, session: p.jar })));
    const ok = results.filter((r) => r.body.data?.claimCredits);
    expect(ok).toHaveLength(3);
    for (const r of results.filter((r) => !r.body.data?.claimCredits)) expect(r.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'code' });
    const row = await t.database.db.selectFrom('claim_codes').select(['redemptions']).where('code_hash', '=', hashClaimCode(code)).executeTakeFirstOrThrow();
    expect(row.redemptions).toBe(3);
    const balances = await Promise.all(people.map((p) => balanceOf(t, p.accountId)));
    expect(balances.filter((b) => b === 10)).toHaveLength(3);
    expect(balances.filter((b) => b === 0)).toHaveLength(5);
  });

  it('are redeemed once when one account claims concurrently', async () => {
    const code = await claimCode(10, ['--max-redemptions', '100']);
    const owner = await signUp(t);
    const results = await Promise.all(Array.from({ length: 6 }, () => t.gql(CLAIM, { variables: { code }, session: owner.jar.clone() })));
    expect(results.filter((r) => r.body.data?.claimCredits)).toHaveLength(1);
    expect(results.filter((r) => r.body.errors?.[0]?.extensions.code === 'CONFLICT')).toHaveLength(5);
    expect(await balanceOf(t, owner.accountId)).toBe(10);
  });

  it('refuse unknown and expired codes, and API keys', async () => {
    const owner = await signUp(t);
    const unknown = await t.gql(CLAIM, { variables: { code: 'ksc_000000000000000000000000' }, session: owner.jar });
    expect(unknown.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'code' });
    const code = await claimCode(5, ['--expires', new Date(Date.now() + 60_000).toISOString()]);
    t.clock.advance(120_000);
    try {
      const expired = await t.gql(CLAIM, { variables: { code }, session: owner.jar });
      expect(expired.body.errors[0]).toMatchObject({ message: 'This claim code has expired.', extensions: { code: 'BAD_USER_INPUT' } });
    } finally {
      t.clock.advance(-120_000);
    }
    const key = await createKey(t, owner);
    const byKey = await t.gql(CLAIM, { variables: { code }, key: key.secret });
    expect(byKey.body.errors[0].extensions.code).toBe('FORBIDDEN');
    expect(await balanceOf(t, owner.accountId)).toBe(0);
  });

  it('refuse a bad amount, limit or expiry at creation', async () => {
    await expect(operator(t, ['claim-code', 'create', '--amount', '0'])).rejects.toThrow(/amount/);
    await expect(operator(t, ['claim-code', 'create', '--amount', '5', '--max-redemptions', '0'])).rejects.toThrow(/max-redemptions/);
    await expect(operator(t, ['claim-code', 'create', '--amount', '5', '--expires', '2001-01-01'])).rejects.toThrow(/future/);
    await expect(operator(t, ['claim-code', 'create', '--amount', '5', '--expires', 'soon'])).rejects.toThrow(/ISO date/);
  });
});

describe('operator command line', () => {
  it('grants credits by email with a ledger entry and an audit event', async () => {
    const owner = await signUp(t);
    const lines = await grant(t, owner.email.toUpperCase(), 40);
    expect(lines.at(-1)).toMatch(/balance now 40$/);
    const [entry] = await ledgerOf(t, owner.accountId);
    expect(entry).toMatchObject({ kind: 'grant', amount: 40, balance_after: 40, actor: 'operator', reason: 'operator grant' });
    const audit = await t.gql('{ auditEvents(first: 5) { edges { node { action actorType metadata } } } }', { session: owner.jar });
    expect(audit.body.data.auditEvents.edges[0].node).toMatchObject({ action: 'credits.granted', actorType: 'OPERATOR', metadata: { amount: 40 } });
  });

  it('refuses an unknown email, a zero or negative grant, and a correction below zero', async () => {
    const owner = await signUp(t);
    await expect(grant(t, 'nobody@example.com', 5)).rejects.toThrow(/not found/);
    await expect(grant(t, owner.email, 0)).rejects.toThrow(/amount/);
    await expect(operator(t, ['credits', 'grant', '--email', owner.email, '--amount=-3'])).rejects.toThrow(/amount/);
    await grant(t, owner.email, 5);
    await tick();
    await expect(operator(t, ['credits', 'correct', '--email', owner.email, '--amount=-6', '--reason', 'x'])).rejects.toThrow(/negative/);
    await expect(operator(t, ['credits', 'correct', '--email', owner.email, '--amount=-2'])).rejects.toThrow(/reason/);
    await operator(t, ['credits', 'correct', '--email', owner.email, '--amount=-2', '--reason', 'double grant']);
    expect(await balanceOf(t, owner.accountId)).toBe(3);
    expect((await ledgerOf(t, owner.accountId)).map((e) => [e.kind, e.amount])).toEqual([
      ['grant', 5],
      ['correction', -2],
    ]);
  });

  it('`credits check` proves balance = ledger sum, and finds a balance edited behind the ledger', async () => {
    expect((await operator(t, ['credits', 'check'])).at(-1)).toMatch(/^ok: \d+ accounts/);
    const owner = await signUp(t);
    await t.database.db.updateTable('accounts').set({ credit_balance: 99 }).where('id', '=', owner.accountId).execute();
    const lines: string[] = [];
    await expect(commands['credits check']!(t.database.db, ['credits', 'check'], (l) => lines.push(l))).rejects.toThrow(/failed/);
    expect(lines).toContain(`MISMATCH account ${owner.accountId}: balance 99, ledger sum 0`);
    const check = await checkLedger({ db: t.database.db });
    expect(check.mismatches).toEqual([{ accountId: owner.accountId, balance: 99, ledgerSum: 0 }]);
    // Put it back through the ledger's own terms: a correction is a new entry.
    await t.database.db.updateTable('accounts').set({ credit_balance: 0 }).where('id', '=', owner.accountId).execute();
  });

  it('runs as `npm run keyscope -- …` does: runCli with DATABASE_URL', async () => {
    const owner = await signUp(t);
    const schema = await currentPgSchema(t);
    const url = schema ? `${process.env.TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}` : t.config.databaseUrl;
    const saved = { ...process.env };
    Object.assign(process.env, { DATABASE_URL: url, KEYSCOPE_SECRET: TEST_SECRET, KEYSCOPE_DATA_DIR: t.config.dataDir, NODE_ENV: 'test' });
    try {
      const out: string[] = [];
      expect(await runCli(['credits', 'grant', '--email', owner.email, '--amount', '12'], (l) => out.push(l))).toBe(0);
      expect(await runCli(['claim-code', 'create', '--amount', '3'], (l) => out.push(l))).toBe(0);
      const code = out.at(-1)!;
      expect(code).toMatch(/^ksc_/);
      expect(await runCli(['credits', 'check'], (l) => out.push(l))).toBe(0);
      const claimed = await t.gql(CLAIM, { variables: { code }, session: owner.jar });
      expect(claimed.body.data.claimCredits.balance).toBe(15);
    } finally {
      process.env = saved;
    }
  });
});

describe('settings', () => {
  it('hold the low-balance threshold: read, set, clear, validated, audited, session only', async () => {
    const owner = await signUp(t);
    const UPDATE = 'mutation($v: Int) { updateSettings(input: { lowBalanceThreshold: $v }) { settings { lowBalanceThreshold } } }';
    expect((await t.gql('{ settings { lowBalanceThreshold } }', { session: owner.jar })).body.data.settings).toEqual({ lowBalanceThreshold: null });
    expect((await t.gql(UPDATE, { variables: { v: 10 }, session: owner.jar })).body.data.updateSettings.settings.lowBalanceThreshold).toBe(10);
    expect((await t.gql('mutation { updateSettings(input: {}) { settings { lowBalanceThreshold } } }', { session: owner.jar })).body.data.updateSettings.settings.lowBalanceThreshold).toBe(10);
    await tick();
    expect((await t.gql(UPDATE, { variables: { v: null }, session: owner.jar })).body.data.updateSettings.settings.lowBalanceThreshold).toBeNull();
    const negative = await t.gql(UPDATE, { variables: { v: -1 }, session: owner.jar });
    expect(negative.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'lowBalanceThreshold' });
    const key = await createKey(t, owner);
    expect((await t.gql('{ settings { lowBalanceThreshold } }', { key: key.secret })).body.errors[0].extensions.code).toBe('FORBIDDEN');
    const audit = await t.gql('{ auditEvents(action: "settings.updated") { edges { node { metadata } } } }', { session: owner.jar });
    expect(audit.body.data.auditEvents.edges.map((e: { node: { metadata: unknown } }) => e.node.metadata)).toEqual([
      { lowBalanceThreshold: null },
      { lowBalanceThreshold: 10 },
    ]);
  });
});

describe('credit ledger query', () => {
  it('lists the account’s own entries, newest first, to its session only', async () => {
    const owner = await signUp(t);
    const stranger = await signUp(t);
    await grant(t, owner.email, 3);
    await grant(t, stranger.email, 9);
    const key = await createKey(t, owner);
    await tick();
    await t.gql(CREATE_JOB, { key: key.secret, variables: { input: { kind: 'STAGE' } } });
    const res = await t.gql('{ creditLedger(first: 10) { edges { node { kind amount balanceAfter keyId jobId actor } } } }', { session: owner.jar });
    const nodes = res.body.data.creditLedger.edges.map((e: { node: unknown }) => e.node);
    expect(nodes).toMatchObject([
      { kind: 'DEBIT', amount: -1, balanceAfter: 2, keyId: key.id, actor: `api_key:${key.id}` },
      { kind: 'GRANT', amount: 3, balanceAfter: 3, keyId: null, jobId: null, actor: 'operator' },
    ]);
    expect((await t.gql('{ creditLedger { edges { cursor } } }', { key: key.secret })).body.errors[0].extensions.code).toBe('FORBIDDEN');
  });
});
