// Shared by the credits, jobs and usage tests: operator commands run in-process against the
// test database, and a few reads of the ledger.
import { sql } from 'kysely';
import { commands } from '../../src/cli/main.ts';
import type { TestApp } from '../harness.ts';

/** Ids order rows by millisecond: a pause keeps consecutive writes in distinct ones where a test checks their order. */
export const tick = () => new Promise((resolve) => setTimeout(resolve, 2));

export const CREATE_JOB = 'mutation($input: CreateJobInput!) { createJob(input: $input) { job { id kind status cost charged } } }';
export const CREDITS = '{ credits { balance environment } }';

/** Runs an operator command (`['credits', 'grant', '--email', …]`) on the test database; its output lines. */
export async function operator(t: TestApp, argv: string[]): Promise<string[]> {
  const command = commands[`${argv[0]} ${argv[1]}`];
  if (!command) throw new Error(`no command ${argv.slice(0, 2).join(' ')}`);
  const lines: string[] = [];
  await command(t.database.db, argv, (line) => lines.push(line));
  return lines;
}

export function grant(t: TestApp, email: string, amount: number): Promise<string[]> {
  return operator(t, ['credits', 'grant', '--email', email, '--amount', String(amount)]);
}

export async function balanceOf(t: TestApp, accountId: string): Promise<number> {
  const row = await t.database.db.selectFrom('accounts').select('credit_balance').where('id', '=', accountId).executeTakeFirstOrThrow();
  return row.credit_balance;
}

export function ledgerOf(t: TestApp, accountId: string) {
  return t.database.db.selectFrom('credit_ledger').selectAll().where('account_id', '=', accountId).orderBy('id').execute();
}

export function jobsOf(t: TestApp, accountId: string) {
  return t.database.db.selectFrom('jobs').selectAll().where('account_id', '=', accountId).orderBy('id').execute();
}

/** The PostgreSQL schema the test app lives in (null on SQLite), for commands run through runCli. */
export async function currentPgSchema(t: TestApp): Promise<string | null> {
  if (t.database.dialect !== 'postgres') return null;
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(t.database.db);
  return rows[0]?.schema ?? null;
}

/** A webhook row for the key, written directly, so that outbox events can be observed without delivering them. */
export async function subscribeWebhook(t: TestApp, accountId: string, keyId: string, events: string[]): Promise<void> {
  const at = Date.now();
  await t.database.db
    .insertInto('webhooks')
    .values({
      id: `wh_${keyId}`,
      key_id: keyId,
      account_id: accountId,
      url: 'https://127.0.0.1:9/never-delivered',
      events: JSON.stringify(events),
      enabled: 1,
      secret_enc: 'not-a-real-secret',
      previous_secret_enc: null,
      previous_secret_expires_at: null,
      disabled_reason: null,
      created_at: at,
      updated_at: at,
    })
    .execute();
}

export function deliveriesOf(t: TestApp, keyId: string, eventType: string) {
  return t.database.db.selectFrom('webhook_deliveries').selectAll().where('key_id', '=', keyId).where('event_type', '=', eventType).execute();
}
