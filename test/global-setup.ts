// Before the suite: the server bundle that `npm start` runs (and the process tests start) is
// rebuilt when the sources changed; when TEST_DATABASE_URL is set, fail fast if PostgreSQL
// does not answer.
import pg from 'pg';
import { ensureBundle } from '../scripts/bundle.mjs';

export async function setup(): Promise<void> {
  await ensureBundle();
  const url = process.env.TEST_DATABASE_URL;
  if (!url) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('select 1');
  await client.end();
}
