// The job worker polls for due jobs every few hundred milliseconds, so its reads must follow
// the backlog, never the history: each one searches the partial index of queued jobs or of
// running leases, and no plan walks the jobs table (every job ever run). The plans are
// SQLite's (its planner has no statistics to change its mind); PostgreSQL's depend on its
// statistics, and the benchmark's createJob rows are where a slow poll there would show.
import { CompiledQuery, type KyselyPlugin, type RootOperationNode } from 'kysely';
import { describe, expect, it } from 'vitest';
import { findDueJobIds } from '../../src/jobs/jobs.queries.ts';
import { databaseForThisFile, dialect } from '../harness.ts';

const database = databaseForThisFile();

/** The queries a call makes, as operation trees (compiled below by the same database). */
function capturing(): { plugin: KyselyPlugin; nodes: RootOperationNode[] } {
  const nodes: RootOperationNode[] = [];
  return {
    nodes,
    plugin: {
      transformQuery: ({ node }) => {
        nodes.push(node);
        return node;
      },
      transformResult: async ({ result }) => result,
    },
  };
}

describe.skipIf(dialect !== 'sqlite')('the due-job reads', () => {
  it('search the partial indexes of queued jobs and expired leases, and scan no table', async () => {
    const { db } = database();
    const { plugin, nodes } = capturing();
    await findDueJobIds(db.withPlugin(plugin), Date.now(), 16);
    expect(nodes).toHaveLength(2);
    const plans: string[] = [];
    for (const node of nodes) {
      const query = db.getExecutor().compileQuery(node, { queryId: 'plan' });
      const explained = await db.executeQuery(CompiledQuery.raw(`explain query plan ${query.sql}`, [...query.parameters]));
      plans.push((explained.rows as { detail: string }[]).map((row) => row.detail).join('; '));
    }
    expect(plans[0]).toMatch(/jobs_queued_idx/);
    expect(plans[1]).toMatch(/SEARCH jobs USING INDEX jobs_lease_idx \(claimed_until<\?\)/);
    for (const plan of plans) expect(plan).not.toMatch(/SCAN jobs(?! USING COVERING INDEX jobs_queued_idx)/);
  });
});
