// Jobs, kept apart by account and environment: every read names both, so another account's
// or another environment's job is simply not found.
import { type Selectable, sql } from 'kysely';
import { inStatements } from '../db/batches.ts';
import type { DbOrTrx, Environment, JobStatus, JobsTable } from '../db/database.ts';
import { preparedQuery } from '../db/prepared-query.ts';
import type { JobKind } from './job-processor.ts';

export interface Job {
  id: string;
  accountId: string;
  keyId: string;
  environment: Environment;
  kind: JobKind;
  status: JobStatus;
  cost: number;
  charged: number;
  input: unknown;
  result: unknown;
  attempts: number;
  createdAt: Date;
  completedAt: Date | null;
}

/** A jobs row as read. */
export type JobRow = Selectable<JobsTable>;

const parseJson = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

export function jobRowToJob(row: JobRow): Job {
  return {
    id: row.id,
    accountId: row.account_id,
    keyId: row.key_id,
    environment: row.environment,
    kind: row.kind as JobKind,
    status: row.status,
    cost: row.cost,
    charged: row.charged,
    input: parseJson(row.input),
    result: parseJson(row.result),
    attempts: row.attempts,
    createdAt: new Date(row.created_at),
    completedAt: row.completed_at === null ? null : new Date(row.completed_at),
  };
}

const JOB_COLUMNS = [
  'id',
  'account_id',
  'key_id',
  'environment',
  'kind',
  'status',
  'cost',
  'charged',
  'input',
  'result',
  'attempts',
  'claimed_until',
  'created_at',
  'completed_at',
] as const satisfies readonly (keyof JobRow)[];

// Every metered createJob runs this: compiled once (db/prepared-query.ts).
const insertJobQuery = preparedQuery<JobRow, never>(JOB_COLUMNS, (db, row) => db.insertInto('jobs').values(row));

export async function insertJob(db: DbOrTrx, row: JobRow): Promise<void> {
  await insertJobQuery(db, row);
}

export function findJob(db: DbOrTrx, accountId: string, environment: Environment, jobId: string) {
  return db
    .selectFrom('jobs')
    .selectAll()
    .where('id', '=', jobId)
    .where('account_id', '=', accountId)
    .where('environment', '=', environment)
    .executeTakeFirst();
}

export function listJobs(
  db: DbOrTrx,
  accountId: string,
  environment: Environment,
  filter: { limit: number; afterId: string | null; status: JobStatus | null },
) {
  let query = db.selectFrom('jobs').selectAll().where('account_id', '=', accountId).where('environment', '=', environment);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.afterId) query = query.where('id', '<', filter.afterId);
  return query.orderBy('id', 'desc').limit(filter.limit + 1).execute();
}

/** Oldest first: ids are time-ordered (ids.ts). */
const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Due jobs: the oldest queued, and those running on the leases that ran out first. Two reads,
 * each on the partial index that holds only such jobs
 * (migrations/2026-12-01T11-00-00_due_job_indexes.ts: the status is a literal so that the
 * planners can use them), merged: one read with an OR makes SQLite and PostgreSQL sort every
 * queued job on every poll. Each read is ordered by its own index's column: ordered by `id`,
 * the lease read made SQLite walk the primary key through every job ever run, finished ones
 * included, to skip a sort (579 µs per poll after 8,000 jobs, against 90 µs for the queued read).
 */
export async function findDueJobIds(db: DbOrTrx, now: number, limit: number): Promise<{ id: string }[]> {
  const queued = await db.selectFrom('jobs').select('id').where('status', '=', sql.lit('QUEUED')).orderBy('id').limit(limit).execute();
  const expired = await db
    .selectFrom('jobs')
    .select('id')
    .where('status', '=', sql.lit('RUNNING'))
    .where('claimed_until', '<', now)
    .orderBy('claimed_until')
    .limit(limit)
    .execute();
  return [...queued, ...expired].sort(byId).slice(0, limit);
}

/**
 * Takes these jobs for this worker until `leaseUntil`, those that are still due: one
 * conditional UPDATE, so of several workers (or instances) exactly one wins each job. The
 * claimed rows, oldest first.
 */
export async function claimJobs(db: DbOrTrx, jobIds: string[], now: number, leaseUntil: number): Promise<JobRow[]> {
  if (jobIds.length === 0) return [];
  const rows = await db
    .updateTable('jobs')
    .set((eb) => ({ status: 'RUNNING', claimed_until: leaseUntil, attempts: eb('attempts', '+', 1) }))
    .where('id', 'in', jobIds)
    .where((eb) =>
      eb.or([eb('status', '=', 'QUEUED'), eb.and([eb('status', '=', 'RUNNING'), eb('claimed_until', '<', now)])]),
    )
    .returningAll()
    .execute();
  return rows.sort(byId);
}

/**
 * Records the outcome if this worker still holds the lease (`claimed_until` is its token):
 * false when the lease ran out and another worker took the job.
 */
export async function finishJob(
  db: DbOrTrx,
  jobId: string,
  leaseUntil: number,
  outcome: { status: 'COMPLETED' | 'FAILED'; result: string; at: number },
): Promise<boolean> {
  const result = await finishJobQuery(db, { jobId, leaseUntil, status: outcome.status, result: outcome.result, at: outcome.at });
  return result.numAffectedRows === 1n;
}

export interface JobFinish {
  jobId: string;
  status: 'COMPLETED' | 'FAILED';
  result: string;
  at: number;
}

/**
 * finishJob for several jobs claimed with the same lease: one UPDATE from a VALUES list (its
 * columns are column1… on both databases) per ROWS_PER_STATEMENT jobs (db/batches.ts), each job recorded only
 * if this worker still holds its lease. The ids recorded.
 */
export async function finishJobs(db: DbOrTrx, leaseUntil: number, finishes: JobFinish[]): Promise<Set<string>> {
  const recorded = new Set<string>();
  for (const piece of inStatements(finishes)) {
    const rows = piece.map((f) => sql`(${f.jobId}, ${f.status}, ${f.result}, cast(${f.at} as bigint))`);
    const { rows: finished } = await sql<{ id: string }>`
      update jobs set status = outcome.column2, result = outcome.column3, completed_at = outcome.column4, claimed_until = null
      from (values ${sql.join(rows)}) as outcome
      where jobs.id = outcome.column1 and jobs.status = 'RUNNING' and jobs.claimed_until = ${leaseUntil}
      returning id
    `.execute(db);
    for (const row of finished) recorded.add(row.id);
  }
  return recorded;
}

// A job finished alone (a wave of one, or the fallback) runs this: compiled once (db/prepared-query.ts).
const finishJobQuery = preparedQuery<{ jobId: string; leaseUntil: number; status: 'COMPLETED' | 'FAILED'; result: string; at: number }, never>(
  ['jobId', 'leaseUntil', 'status', 'result', 'at'],
  (db, p) =>
    db
      .updateTable('jobs')
      .set({ status: p.status, result: p.result, completed_at: p.at, claimed_until: null })
      .where('id', '=', p.jobId)
      .where('status', '=', 'RUNNING')
      .where('claimed_until', '=', p.leaseUntil),
);
