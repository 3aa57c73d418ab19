import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLedger } from '../../src/credits/credits.service.ts';
import { type Signup, type TestApp, createKey, createTestApp, signUp } from '../harness.ts';
import { CREATE_JOB, balanceOf, grant, jobsOf, ledgerOf } from './credits-helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  const check = await checkLedger({ db: t.database.db });
  await t.close();
  expect(check.ok).toBe(true);
});

async function funded(amount: number): Promise<{ owner: Signup; key: { id: string; secret: string } }> {
  const owner = await signUp(t);
  if (amount > 0) await grant(t, owner.email, amount);
  return { owner, key: await createKey(t, owner) };
}

const job = (key: string, input: Record<string, unknown>) => t.gql(CREATE_JOB, { key, variables: { input } });

describe('idempotencyKey', () => {
  it('returns the first job for the same key and input, charging once', async () => {
    const { owner, key } = await funded(10);
    const first = await job(key.secret, { kind: 'STAGE', input: { a: 1, b: [1, 2] }, idempotencyKey: 'order-1' });
    expect(first.body.extensions.credits).toMatchObject({ charged: 1, remaining: 9 });
    // Same input with its keys in another order is the same input.
    const again = await job(key.secret, { kind: 'STAGE', input: { b: [1, 2], a: 1 }, idempotencyKey: 'order-1' });
    expect(again.body.data.createJob.job.id).toBe(first.body.data.createJob.job.id);
    expect(again.body.extensions.credits).toMatchObject({ charged: 0, remaining: 9 });
    expect(await balanceOf(t, owner.accountId)).toBe(9);
    expect((await ledgerOf(t, owner.accountId)).filter((e) => e.kind === 'debit')).toHaveLength(1);
    expect(await jobsOf(t, owner.accountId)).toHaveLength(1);
  });

  it('is CONFLICT with a different input, and charges nothing', async () => {
    const { owner, key } = await funded(10);
    await job(key.secret, { kind: 'STAGE', input: { a: 1 }, idempotencyKey: 'order-2' });
    for (const input of [
      { kind: 'STAGE', input: { a: 2 }, idempotencyKey: 'order-2' },
      { kind: 'ENHANCE', input: { a: 1 }, idempotencyKey: 'order-2' },
      { kind: 'STAGE', idempotencyKey: 'order-2' },
    ]) {
      const res = await job(key.secret, input);
      expect(res.body.data.createJob).toBeNull();
      expect(res.body.errors[0].extensions.code).toBe('CONFLICT');
    }
    expect(await balanceOf(t, owner.accountId)).toBe(9);
    expect(await jobsOf(t, owner.accountId)).toHaveLength(1);
  });

  it('never charges twice for concurrent duplicates', async () => {
    const { owner, key } = await funded(10);
    const results = await Promise.all(Array.from({ length: 12 }, () => job(key.secret, { kind: 'PLACE_PRODUCTS', idempotencyKey: 'burst' })));
    const ids = new Set(results.map((r) => r.body.data?.createJob?.job.id));
    expect(results.every((r) => !r.body.errors)).toBe(true);
    expect(ids.size).toBe(1);
    expect(results.map((r) => r.body.extensions.credits.charged).sort()).toEqual([...Array(11).fill(0), 2]);
    expect(await balanceOf(t, owner.accountId)).toBe(8);
    expect(await jobsOf(t, owner.accountId)).toHaveLength(1);
    expect((await ledgerOf(t, owner.accountId)).filter((e) => e.kind === 'debit')).toHaveLength(1);
  });

  it('makes concurrent duplicates with different inputs one job and the rest CONFLICT', async () => {
    const { owner, key } = await funded(10);
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => job(key.secret, { kind: 'STAGE', input: { i }, idempotencyKey: 'race' })));
    expect(results.filter((r) => r.body.data?.createJob)).toHaveLength(1);
    expect(results.filter((r) => r.body.errors?.[0]?.extensions.code === 'CONFLICT')).toHaveLength(5);
    expect(await balanceOf(t, owner.accountId)).toBe(9);
  });

  it('is kept apart by account and by environment', async () => {
    const a = await funded(5);
    const b = await funded(5);
    const testKey = await createKey(t, a.owner, { environment: 'TEST' });
    const first = await job(a.key.secret, { kind: 'STAGE', idempotencyKey: 'shared' });
    const other = await job(b.key.secret, { kind: 'STAGE', idempotencyKey: 'shared' });
    const sandbox = await job(testKey.secret, { kind: 'STAGE', idempotencyKey: 'shared' });
    const ids = [first, other, sandbox].map((r) => r.body.data.createJob.job.id);
    expect(new Set(ids).size).toBe(3);
    expect(await balanceOf(t, a.owner.accountId)).toBe(4);
    expect(await balanceOf(t, b.owner.accountId)).toBe(4);
  });

  it('is shared by the keys of one account and environment', async () => {
    const { owner, key } = await funded(5);
    const second = await createKey(t, owner);
    const first = await job(key.secret, { kind: 'STAGE', idempotencyKey: 'either-key' });
    const again = await job(second.secret, { kind: 'STAGE', idempotencyKey: 'either-key' });
    expect(again.body.data.createJob.job.id).toBe(first.body.data.createJob.job.id);
    expect(await balanceOf(t, owner.accountId)).toBe(4);
  });

  it('is not stored when the charge is refused, so a retry after a top-up works', async () => {
    const { owner, key } = await funded(0);
    const refused = await job(key.secret, { kind: 'STAGE', idempotencyKey: 'later' });
    expect(refused.body.errors[0].extensions.code).toBe('PAYMENT_REQUIRED');
    await grant(t, owner.email, 1);
    const paid = await job(key.secret, { kind: 'STAGE', idempotencyKey: 'later' });
    expect(paid.body.data.createJob.job.charged).toBe(1);
    expect(await balanceOf(t, owner.accountId)).toBe(0);
  });

  it('is remembered for 24 hours, then may be used afresh', async () => {
    const { owner, key } = await funded(5);
    const first = await job(key.secret, { kind: 'STAGE', idempotencyKey: 'daily' });
    t.clock.advance(23 * 60 * 60 * 1000);
    const within = await job(key.secret, { kind: 'STAGE', input: { other: true }, idempotencyKey: 'daily' });
    expect(within.body.errors[0].extensions.code).toBe('CONFLICT');
    t.clock.advance(2 * 60 * 60 * 1000);
    const after = await job(key.secret, { kind: 'STAGE', input: { other: true }, idempotencyKey: 'daily' });
    expect(after.body.data.createJob.job.id).not.toBe(first.body.data.createJob.job.id);
    expect(await balanceOf(t, owner.accountId)).toBe(3);
  });

  it('must be 1 to 255 printable characters', async () => {
    const { owner, key } = await funded(5);
    for (const idempotencyKey of ['', 'has space', 'x'.repeat(256)]) {
      const res = await job(key.secret, { kind: 'STAGE', idempotencyKey });
      expect(res.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'idempotencyKey' });
    }
    expect(await balanceOf(t, owner.accountId)).toBe(5);
  });
});
