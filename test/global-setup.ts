// Before the suite: when TEST_DATABASE_URL is set, fail fast if PostgreSQL does not answer.
import pg from 'pg';

export async function setup(): Promise<void> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('select 1');
  await client.end();
}
