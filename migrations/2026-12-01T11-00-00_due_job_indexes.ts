// Frozen in time: this file never imports application code.
// The job worker looks only for QUEUED jobs and RUNNING jobs whose lease ran out, but
// jobs_status_idx (status, id) also held an entry for every job ever finished, and each
// finish moved the job's entry into that ever-growing COMPLETED/FAILED part. Two partial
// indexes hold only the jobs the worker may take: a finished job leaves them, and a job's
// three writes (queued, claimed, finished) touch four index entries instead of five.
// Queries match them with the status as a literal (a bound parameter cannot prove a
// partial index's condition to either database's planner).
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against no particular schema
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema.createIndex('jobs_queued_idx').on('jobs').column('id').where(sql.ref('status'), '=', sql.lit('QUEUED')).execute();
  await db.schema.createIndex('jobs_lease_idx').on('jobs').column('claimed_until').where(sql.ref('status'), '=', sql.lit('RUNNING')).execute();
  await db.schema.dropIndex('jobs_status_idx').execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.createIndex('jobs_status_idx').on('jobs').columns(['status', 'id']).execute();
  await db.schema.dropIndex('jobs_lease_idx').execute();
  await db.schema.dropIndex('jobs_queued_idx').execute();
}
