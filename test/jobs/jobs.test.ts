import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLedger } from '../../src/credits/credits.service.ts';
import type { JobProcessor } from '../../src/jobs/job-processor.ts';
import { MAX_JOB_ATTEMPTS, processDueJobs } from '../../src/jobs/job-worker.ts';
import { claimJobs } from '../../src/jobs/jobs.queries.ts';
import { finishClaimedJob, finishClaimedJobs } from '../../src/jobs/jobs.service.ts';
import { type Signup, type TestApp, createKey, createTestApp, signUp } from '../harness.ts';
import { CREATE_JOB, balanceOf, deliveriesOf, grant, ledgerOf, subscribeWebhook, tick } from '../credits/credits-helpers.ts';

// Most tests drive the worker one pass at a time (processDueJobs) for determinism; one test
// runs the real background worker.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  const check = await checkLedger({ db: t.database.db });
  await t.close();
  expect(check.ok).toBe(true);
});

const JOB = 'query($id: ID!) { job(id: $id) { id kind status cost charged environment input result createdAt completedAt } }';
const JOBS = 'query($first: Int, $after: String, $status: JobStatus) { jobs(first: $first, after: $after, status: $status) { edges { node { id status } } pageInfo { hasNextPage endCursor } } }';

async function funded(amount: number, environment = 'LIVE'): Promise<{ owner: Signup; key: { id: string; secret: string } }> {
  const owner = await signUp(t);
  if (amount > 0) await grant(t, owner.email, amount);
  return { owner, key: await createKey(t, owner, { environment }) };
}

async function create(secret: string, input: Record<string, unknown>): Promise<string> {
  const res = await t.gql(CREATE_JOB, { key: secret, variables: { input } });
  const id = res.body.data?.createJob?.job.id;
  if (!id) throw new Error(`createJob failed: ${JSON.stringify(res.body)}`);
  return id;
}

/** Runs worker passes until none is due. */
async function drain(options: Parameters<typeof processDueJobs>[1] = {}): Promise<void> {
  while ((await processDueJobs(t.app.deps, options)) > 0) {
    // keep going
  }
}

describe('createJob and the worker', () => {
  it('records a QUEUED job, then completes it off the request path with a result and job.completed', async () => {
    const { owner, key } = await funded(5);
    await subscribeWebhook(t, owner.accountId, key.id, ['job.completed', 'job.failed']);
    const id = await create(key.secret, { kind: 'ENHANCE', input: { image: 'https://example.com/a.png' } });
    const queued = await t.gql(JOB, { key: key.secret, variables: { id } });
    expect(queued.body.data.job).toMatchObject({ id, kind: 'ENHANCE', status: 'QUEUED', cost: 1, charged: 1, environment: 'LIVE', result: null, completedAt: null });
    await drain();
    const done = await t.gql(JOB, { key: key.secret, variables: { id } });
    expect(done.body.data.job).toMatchObject({
      status: 'COMPLETED',
      input: { image: 'https://example.com/a.png' },
      result: { kind: 'ENHANCE', input: { image: 'https://example.com/a.png' } },
    });
    expect(done.body.data.job.completedAt).not.toBeNull();
    const events = await deliveriesOf(t, key.id, 'job.completed');
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]!.payload)).toMatchObject({ type: 'job.completed', data: { job: { id, status: 'COMPLETED', cost: 1, charged: 1 } } });
    expect(await deliveriesOf(t, key.id, 'job.failed')).toHaveLength(0);
    expect(await balanceOf(t, owner.accountId)).toBe(4);
  });

  it('refunds a FAILED LIVE job by a ledger entry, in the same transaction as job.failed', async () => {
    const { owner, key } = await funded(5);
    await subscribeWebhook(t, owner.accountId, key.id, ['job.failed']);
    await tick();
    const id = await create(key.secret, { kind: 'PLACE_PRODUCTS', input: { fail: true } });
    expect(await balanceOf(t, owner.accountId)).toBe(3);
    await tick();
    await drain();
    const res = await t.gql(JOB, { key: key.secret, variables: { id } });
    expect(res.body.data.job).toMatchObject({ status: 'FAILED', cost: 2, charged: 2, result: { error: 'The input asked the job to fail.' } });
    expect(await balanceOf(t, owner.accountId)).toBe(5);
    const ledger = await ledgerOf(t, owner.accountId);
    expect(ledger.map((e) => [e.kind, e.amount, e.balance_after, e.job_id])).toEqual([
      ['grant', 5, 5, null],
      ['debit', -2, 3, id],
      ['refund', 2, 5, id],
    ]);
    expect(await deliveriesOf(t, key.id, 'job.failed')).toHaveLength(1);
    // Refunded once, however often the worker looks again.
    await drain();
    expect((await ledgerOf(t, owner.accountId)).filter((e) => e.kind === 'refund')).toHaveLength(1);
  });

  it('refunds nothing for a FAILED TEST job (nothing was charged)', async () => {
    const { owner, key } = await funded(0, 'TEST');
    const id = await create(key.secret, { kind: 'STAGE', input: { fail: true } });
    await drain();
    expect((await t.gql(JOB, { key: key.secret, variables: { id } })).body.data.job).toMatchObject({ status: 'FAILED', cost: 1, charged: 0 });
    expect(await ledgerOf(t, owner.accountId)).toHaveLength(0);
    expect(await balanceOf(t, owner.accountId)).toBe(0);
  });

  it('fails (and refunds) a job whose processor throws, without showing the error to the client', async () => {
    const { owner, key } = await funded(3);
    const id = await create(key.secret, { kind: 'STAGE' });
    const throwing: JobProcessor = {
      async process() {
        throw new Error('secret internal detail');
      },
    };
    await drain({ jobProcessor: throwing });
    const res = await t.gql(JOB, { key: key.secret, variables: { id } });
    expect(res.body.data.job).toMatchObject({ status: 'FAILED', result: { error: 'The job failed while processing.' } });
    expect(JSON.stringify(res.body)).not.toContain('secret internal detail');
    expect(await balanceOf(t, owner.accountId)).toBe(3);
  });

  it('runs in the background worker started with the app', async () => {
    const app = await createTestApp({}, { workers: { pollIntervalMs: 20 } });
    try {
      const owner = await signUp(app);
      const key = await createKey(app, owner, { environment: 'TEST' });
      const res = await app.gql(CREATE_JOB, { key: key.secret, variables: { input: { kind: 'STAGE' } } });
      const id = res.body.data.createJob.job.id;
      let status = 'QUEUED';
      for (let i = 0; i < 200 && status !== 'COMPLETED'; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        status = (await app.gql(JOB, { key: key.secret, variables: { id } })).body.data.job.status;
      }
      expect(status).toBe('COMPLETED');
    } finally {
      await app.close();
    }
  });
});

describe('a durable queue', () => {
  it('takes again a RUNNING job whose worker died once its lease has run out, and not before', async () => {
    const { owner, key } = await funded(2);
    const id = await create(key.secret, { kind: 'STAGE' });
    // A worker claimed it and died: RUNNING with a lease that has not yet run out.
    const now = t.clock.now();
    await t.database.db.updateTable('jobs').set({ status: 'RUNNING', claimed_until: now + 60_000, attempts: 1 }).where('id', '=', id).execute();
    await drain();
    expect((await t.gql(JOB, { key: key.secret, variables: { id } })).body.data.job.status).toBe('RUNNING');
    t.clock.advance(61_000);
    await drain();
    expect((await t.gql(JOB, { key: key.secret, variables: { id } })).body.data.job.status).toBe('COMPLETED');
    const row = await t.database.db.selectFrom('jobs').select(['attempts', 'claimed_until']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toEqual({ attempts: 2, claimed_until: null });
    expect(await balanceOf(t, owner.accountId)).toBe(1);
  });

  it(`gives up (FAILED, refunded) on a job interrupted ${MAX_JOB_ATTEMPTS} times`, async () => {
    const { owner, key } = await funded(1);
    const id = await create(key.secret, { kind: 'STAGE' });
    await t.database.db.updateTable('jobs').set({ status: 'RUNNING', claimed_until: t.clock.now() - 1, attempts: MAX_JOB_ATTEMPTS }).where('id', '=', id).execute();
    let ran = false;
    await drain({
      jobProcessor: {
        async process() {
          ran = true;
          return { status: 'COMPLETED', result: null };
        },
      },
    });
    expect(ran).toBe(false);
    expect((await t.gql(JOB, { key: key.secret, variables: { id } })).body.data.job).toMatchObject({ status: 'FAILED' });
    expect(await balanceOf(t, owner.accountId)).toBe(1);
  });

  it('records nothing from a worker whose lease was taken over', async () => {
    const { owner, key } = await funded(1);
    const id = await create(key.secret, { kind: 'STAGE' });
    const row = await t.database.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    // Another worker holds the job now, with a later lease.
    await t.database.db.updateTable('jobs').set({ status: 'RUNNING', claimed_until: t.clock.now() + 120_000 }).where('id', '=', id).execute();
    const recorded = await finishClaimedJob(t.app.deps, { ...row, status: 'RUNNING' }, t.clock.now() + 60_000, { status: 'FAILED', result: null });
    expect(recorded).toBe(false);
    expect((await t.database.db.selectFrom('jobs').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('RUNNING');
    expect(await balanceOf(t, owner.accountId)).toBe(0);
  });

  it('lets only one of several workers claim a job', async () => {
    const { key } = await funded(0, 'TEST');
    const ids = await Promise.all(Array.from({ length: 6 }, () => create(key.secret, { kind: 'STAGE' })));
    const seen: string[] = [];
    const counting: JobProcessor = {
      async process(job) {
        seen.push(job.id);
        return { status: 'COMPLETED', result: null };
      },
    };
    await Promise.all([1, 2, 3].map(() => drain({ jobProcessor: counting, jobConcurrency: 2 })));
    expect(seen.filter((id) => ids.includes(id)).sort()).toEqual([...ids].sort());
  });
});

describe('a wave of outcomes (several jobs recorded in one transaction)', () => {
  const JOB_STATUS = 'query($id: ID!) { job(id: $id) { status result } }';

  it('records each job with its own result, refund and event, only for the webhooks that take it', async () => {
    const { owner, key: hooked } = await funded(20);
    const picky = await createKey(t, owner, { environment: 'LIVE' });
    const bare = await createKey(t, owner, { environment: 'LIVE' });
    await subscribeWebhook(t, owner.accountId, hooked.id, ['job.completed', 'job.failed']);
    await subscribeWebhook(t, owner.accountId, picky.id, ['job.failed']);
    const jobs = {
      hookedOk: await create(hooked.secret, { kind: 'STAGE', input: { n: 1 } }),
      hookedFail: await create(hooked.secret, { kind: 'PLACE_PRODUCTS', input: { fail: true } }),
      pickyOk: await create(picky.secret, { kind: 'STAGE', input: { n: 2 } }),
      bareFail: await create(bare.secret, { kind: 'STAGE', input: { fail: true } }),
    };
    expect(await balanceOf(t, owner.accountId)).toBe(20 - 1 - 2 - 1 - 1);
    const now = t.clock.now();
    const claimed = await claimJobs(t.database.db, Object.values(jobs), now, now + 60_000);
    const recorded = await finishClaimedJobs(
      t.app.deps,
      claimed.map((job) => ({
        job,
        outcome: job.input?.includes('fail') ? { status: 'FAILED', result: { error: `no ${job.id}` } } : { status: 'COMPLETED', result: { done: job.id } },
      })),
      now + 60_000,
    );
    expect([...recorded].sort()).toEqual(Object.values(jobs).sort());
    expect((await t.gql(JOB_STATUS, { key: hooked.secret, variables: { id: jobs.hookedOk } })).body.data.job).toEqual({ status: 'COMPLETED', result: { done: jobs.hookedOk } });
    expect((await t.gql(JOB_STATUS, { key: hooked.secret, variables: { id: jobs.hookedFail } })).body.data.job).toEqual({ status: 'FAILED', result: { error: `no ${jobs.hookedFail}` } });
    expect((await t.gql(JOB_STATUS, { key: picky.secret, variables: { id: jobs.pickyOk } })).body.data.job).toEqual({ status: 'COMPLETED', result: { done: jobs.pickyOk } });
    expect((await t.gql(JOB_STATUS, { key: bare.secret, variables: { id: jobs.bareFail } })).body.data.job.status).toBe('FAILED');
    // The two failed jobs' charges came back, each by its own ledger entry.
    expect(await balanceOf(t, owner.accountId)).toBe(20 - 1 - 1);
    const refunds = (await ledgerOf(t, owner.accountId)).filter((e) => e.kind === 'refund');
    expect(refunds.map((e) => [e.job_id, e.amount]).sort()).toEqual([[jobs.bareFail, 1], [jobs.hookedFail, 2]].sort());
    // Each event went only where it is subscribed, with its own job in the payload.
    const completed = await deliveriesOf(t, hooked.id, 'job.completed');
    expect(completed.map((d) => JSON.parse(d.payload).data.job.id)).toEqual([jobs.hookedOk]);
    expect((await deliveriesOf(t, hooked.id, 'job.failed')).map((d) => JSON.parse(d.payload).data.job.id)).toEqual([jobs.hookedFail]);
    expect(await deliveriesOf(t, picky.id, 'job.completed')).toHaveLength(0);
    expect(await deliveriesOf(t, bare.id, 'job.failed')).toHaveLength(0);
  });

  it('leaves out a job whose lease another worker took over, and records the rest', async () => {
    const { owner, key } = await funded(2);
    const kept = await create(key.secret, { kind: 'STAGE' });
    const lost = await create(key.secret, { kind: 'STAGE' });
    const now = t.clock.now();
    const claimed = await claimJobs(t.database.db, [kept, lost], now, now + 60_000);
    await t.database.db.updateTable('jobs').set({ claimed_until: now + 120_000 }).where('id', '=', lost).execute();
    const recorded = await finishClaimedJobs(
      t.app.deps,
      claimed.map((job) => ({ job, outcome: { status: 'FAILED', result: null } })),
      now + 60_000,
    );
    expect([...recorded]).toEqual([kept]);
    const rows = await t.database.db.selectFrom('jobs').select(['id', 'status']).where('id', 'in', [kept, lost]).execute();
    expect(Object.fromEntries(rows.map((r) => [r.id, r.status]))).toEqual({ [kept]: 'FAILED', [lost]: 'RUNNING' });
    // Only the recorded job was refunded.
    expect(await balanceOf(t, owner.accountId)).toBe(1);
  });

  it('in the worker, records the others one by one when one job of the wave cannot be recorded', async () => {
    const { key } = await funded(0, 'TEST');
    const ids = await Promise.all([1, 2, 3].map((n) => create(key.secret, { kind: 'STAGE', input: { n } })));
    const [, unrecordable] = ids;
    const processor: JobProcessor = {
      async process(job) {
        // A result JSON cannot hold: this job's outcome cannot be written, and so its wave cannot.
        return { status: 'COMPLETED', result: job.id === unrecordable ? { n: 1n } : { ok: job.id } };
      },
    };
    expect(await processDueJobs(t.app.deps, { jobProcessor: processor })).toBeGreaterThanOrEqual(3);
    const rows = await t.database.db.selectFrom('jobs').select(['id', 'status', 'result']).where('id', 'in', ids).execute();
    expect(Object.fromEntries(rows.map((r) => [r.id, r.status]))).toEqual({ [ids[0] ?? '']: 'COMPLETED', [unrecordable ?? '']: 'RUNNING', [ids[2] ?? '']: 'COMPLETED' });
    expect(rows.find((r) => r.id === ids[2])?.result).toBe(JSON.stringify({ ok: ids[2] }));
  });
});

describe('reading jobs', () => {
  it('pages through the key’s own account and environment only, newest first, with a status filter', async () => {
    const { owner, key } = await funded(10);
    const testKey = await createKey(t, owner, { environment: 'TEST' });
    const live = [];
    for (let i = 0; i < 3; i += 1) {
      live.push(await create(key.secret, { kind: 'STAGE', input: { i } }));
      await tick();
    }
    const sandbox = await create(testKey.secret, { kind: 'STAGE' });
    const page1 = await t.gql(JOBS, { key: key.secret, variables: { first: 2 } });
    expect(page1.body.data.jobs.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([live[2], live[1]]);
    expect(page1.body.data.jobs.pageInfo.hasNextPage).toBe(true);
    const page2 = await t.gql(JOBS, { key: key.secret, variables: { first: 2, after: page1.body.data.jobs.pageInfo.endCursor } });
    expect(page2.body.data.jobs.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([live[0]]);
    expect(page2.body.data.jobs.pageInfo.hasNextPage).toBe(false);
    const testJobs = await t.gql(JOBS, { key: testKey.secret });
    expect(testJobs.body.data.jobs.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([sandbox]);
    const queued = await t.gql(JOBS, { key: key.secret, variables: { status: 'COMPLETED' } });
    expect(queued.body.data.jobs.edges).toEqual([]);
  });

  it('answers NOT_FOUND for another account’s job and for a job of the other environment', async () => {
    const a = await funded(1);
    const b = await funded(1);
    const aTest = await createKey(t, a.owner, { environment: 'TEST' });
    const id = await create(a.key.secret, { kind: 'STAGE' });
    for (const secret of [b.key.secret, aTest.secret]) {
      const res = await t.gql(JOB, { key: secret, variables: { id } });
      expect(res.body.data.job).toBeNull();
      expect(res.body.errors[0].extensions.code).toBe('NOT_FOUND');
    }
    expect((await t.gql(JOB, { key: a.key.secret, variables: { id: 'job_nonexistent' } })).body.errors[0].extensions.code).toBe('NOT_FOUND');
  });
});

describe('who may call', () => {
  it('createJob needs an API key with WRITE scope; job and jobs need READ', async () => {
    const owner = await signUp(t);
    await grant(t, owner.email, 5);
    const read = await createKey(t, owner, { scope: 'READ' });
    const write = await createKey(t, owner, { scope: 'WRITE' });
    const refused = await t.gql(CREATE_JOB, { key: read.secret, variables: { input: { kind: 'STAGE' } } });
    expect(refused.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', requiredScope: 'WRITE' });
    const id = (await t.gql(CREATE_JOB, { key: write.secret, variables: { input: { kind: 'STAGE' } } })).body.data.createJob.job.id;
    const cannotRead = await t.gql(JOB, { key: write.secret, variables: { id } });
    expect(cannotRead.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', requiredScope: 'READ' });
    expect((await t.gql(JOB, { key: read.secret, variables: { id } })).body.data.job.id).toBe(id);
    const bySession = await t.gql(CREATE_JOB, { session: owner.jar, variables: { input: { kind: 'STAGE' } } });
    expect(bySession.body.errors[0].extensions.code).toBe('FORBIDDEN');
    expect((await t.gql(JOBS, { session: owner.jar })).body.errors[0].extensions.code).toBe('FORBIDDEN');
    expect((await t.gql(CREATE_JOB, { variables: { input: { kind: 'STAGE' } } })).body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    // Only the WRITE key's one job was paid for.
    expect(await balanceOf(t, owner.accountId)).toBe(4);
  });

  it('refuses an input over the size limit without charging', async () => {
    const { owner, key } = await funded(1);
    const res = await t.gql(CREATE_JOB, { key: key.secret, variables: { input: { kind: 'STAGE', input: { blob: 'x'.repeat(70_000) } } } });
    expect(res.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input' });
    expect(await balanceOf(t, owner.accountId)).toBe(1);
  });
});
