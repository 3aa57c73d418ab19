import { callerApiKey } from '../auth/viewer.ts';
import { builder } from '../schema/builder.ts';
import { connectionOf } from '../schema/pagination.ts';
import { EnvironmentEnum } from '../schema/scalars.ts';
import type { Job } from './jobs.queries.ts';
import { MAX_JOB_INPUT_CHARS, createJob, getJob, listJobs } from './jobs.service.ts';

export const JobKindEnum = builder.enumType('JobKind', {
  description: 'What a job does. Each kind has its own price in credits (KEYSCOPE_JOB_COSTS; defaults 1, 1 and 2).',
  values: {
    STAGE: { description: 'Stage a scene (default 1 credit).' },
    ENHANCE: { description: 'Enhance an image (default 1 credit).' },
    PLACE_PRODUCTS: { description: 'Place products in a scene (default 2 credits).' },
  } as const,
});

export const JobStatusEnum = builder.enumType('JobStatus', {
  description: 'Where a job is in its life.',
  values: {
    QUEUED: { description: 'Paid for and waiting for a worker.' },
    RUNNING: { description: 'A worker is processing it.' },
    COMPLETED: { description: 'Done; `result` holds the output. Fires `job.completed`.' },
    FAILED: { description: 'Failed; `result` says why. Its credits were refunded. Fires `job.failed`.' },
  } as const,
});

export const JobRef = builder.objectRef<Job>('Job').implement({
  description: 'A unit of metered work, created by `createJob` and completed in the background.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Opaque id (`job_…`).' }),
    kind: t.field({ type: JobKindEnum, description: 'What the job does.', resolve: (j) => j.kind }),
    status: t.field({ type: JobStatusEnum, description: 'Where the job is.', resolve: (j) => j.status }),
    cost: t.exposeInt('cost', { description: 'Its price in credits, also for TEST keys (which are not charged).' }),
    charged: t.exposeInt('charged', {
      description: 'Credits taken from the balance: `cost` for LIVE keys, 0 for TEST keys. Refunded if the job FAILED.',
    }),
    environment: t.field({ type: EnvironmentEnum, description: 'The environment of the key that created it.', resolve: (j) => j.environment }),
    input: t.field({ type: 'JSON', nullable: true, description: 'The input it was created with.', resolve: (j) => j.input }),
    result: t.field({ type: 'JSON', nullable: true, description: 'The output (COMPLETED) or the reason (FAILED); null before.', resolve: (j) => j.result }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created and paid for.' }),
    completedAt: t.expose('completedAt', { type: 'DateTime', nullable: true, description: 'When it became COMPLETED or FAILED.' }),
  }),
});

const JobConnection = connectionOf<Job>('Job', JobRef, 'A page of jobs, newest first.');

const CreateJobInput = builder.inputType('CreateJobInput', {
  description: 'A job to run.',
  fields: (t) => ({
    kind: t.field({ type: JobKindEnum, required: true, description: 'What to do; sets the price.' }),
    input: t.field({ type: 'JSON', description: `Anything the processor needs, up to ${MAX_JOB_INPUT_CHARS} characters of JSON.` }),
    idempotencyKey: t.string({
      description:
        'Makes retries safe for 24 hours: the same key with the same input returns the first job and charges once; with a different input it fails with CONFLICT. 1 to 255 printable characters, unique per account and environment.',
    }),
  }),
});

const CreateJobPayload = builder.objectRef<{ job: Job }>('CreateJobPayload').implement({
  description: 'The job created (or, for a repeated idempotency key, the first one).',
  fields: (t) => ({ job: t.field({ type: JobRef, description: 'The job, QUEUED when new.', resolve: (p) => p.job }) }),
});

builder.queryFields((t) => ({
  job: t.field({
    type: JobRef,
    nullable: true,
    description: "One job of the key's account and environment; any other is NOT_FOUND.",
    args: { id: t.arg.id({ required: true, description: 'The job.' }) },
    resolve: (_root, args, ctx) => getJob(ctx.app, callerApiKey(ctx), String(args.id)),
  }),
  jobs: t.field({
    type: JobConnection,
    nullable: true,
    description: "The jobs of the key's account and environment, newest first.",
    args: {
      first: t.arg.int({ description: 'Page size, 1 to 100 (default 20).' }),
      after: t.arg.string({ description: 'Cursor from `pageInfo.endCursor`.' }),
      status: t.arg({ type: JobStatusEnum, description: 'Only jobs in this status.' }),
    },
    resolve: (_root, args, ctx) => listJobs(ctx.app, callerApiKey(ctx), args),
  }),
}));

builder.mutationFields((t) => ({
  createJob: t.field({
    type: CreateJobPayload,
    nullable: true,
    description:
      'Pays for a job and queues it (metered: LIVE keys are charged its cost before it runs; PAYMENT_REQUIRED, with nothing recorded, when the balance is lower; TEST keys are never charged). `extensions.credits` reports `charged` and `remaining`.',
    args: { input: t.arg({ type: CreateJobInput, required: true, description: 'The job.' }) },
    resolve: async (_root, { input }, ctx) => ({ job: await createJob(ctx.app, ctx.state, callerApiKey(ctx), input) }),
  }),
}));
