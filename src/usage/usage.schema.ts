import { sessionAccountId } from '../auth/viewer.ts';
import { builder } from '../schema/builder.ts';
import { EnvironmentEnum, PageInfoRef } from '../schema/scalars.ts';
import { type UsageDay, type UsagePage, type UsageTotals, MAX_USAGE_RANGE_DAYS, getUsage, getUsageTotals } from './usage.service.ts';

const UsageDayRef = builder.objectRef<UsageDay>('UsageDay').implement({
  description: 'What one API key did on one UTC day.',
  fields: (t) => ({
    day: t.exposeString('day', { description: 'The UTC day, `YYYY-MM-DD`.' }),
    keyId: t.exposeID('keyId', { description: 'The API key.' }),
    environment: t.field({ type: EnvironmentEnum, description: "The key's environment.", resolve: (d) => d.environment }),
    requests: t.exposeInt('requests', { description: 'Requests made with the key.' }),
    errors: t.exposeInt('errors', { description: 'Requests answered with an HTTP error status (4xx/5xx) or carrying any GraphQL error.' }),
    creditsCharged: t.exposeInt('creditsCharged', { description: 'Credits charged (refunds are not subtracted; see the ledger).' }),
  }),
});

const UsageTotalsRef = builder.objectRef<UsageTotals>('UsageTotals').implement({
  description: 'Sums over the whole range, every page.',
  fields: (t) => ({
    requests: t.exposeInt('requests', { description: 'Requests.' }),
    errors: t.exposeInt('errors', { description: 'Requests answered with an HTTP error status or carrying any GraphQL error.' }),
    creditsCharged: t.exposeInt('creditsCharged', { description: 'Credits charged.' }),
  }),
});

const UsageDayEdgeRef = builder.objectRef<UsagePage['edges'][number]>('UsageDayEdge').implement({
  description: 'One UsageDay in a page.',
  fields: (t) => ({
    node: t.field({ type: UsageDayRef, description: 'The UsageDay.', resolve: (e) => e.node }),
    cursor: t.exposeString('cursor', { description: 'Opaque position of this edge.' }),
  }),
});

const UsageDayConnectionRef = builder.objectRef<UsagePage>('UsageDayConnection').implement({
  description: 'A page of usage, newest day first, and the totals of the whole range.',
  fields: (t) => ({
    edges: t.field({ type: [UsageDayEdgeRef], description: 'The page, newest day first.', resolve: (p) => p.edges }),
    pageInfo: t.field({ type: PageInfoRef, description: 'Paging state.', resolve: (p) => p.pageInfo }),
    totals: t.field({ type: UsageTotalsRef, description: 'Sums over the whole range.', resolve: (p, _args, ctx) => getUsageTotals(ctx.app, p.filter) }),
  }),
});

builder.queryFields((t) => ({
  usage: t.field({
    type: UsageDayConnectionRef,
    nullable: true,
    description:
      'Requests, errors and credits charged per API key per UTC day, for the dashboard. Counts are written in batches: the last ~30 seconds may be missing.',
    args: {
      from: t.arg({ type: 'DateTime', required: true, description: 'First day of the range (its UTC day counts whole).' }),
      to: t.arg({ type: 'DateTime', required: true, description: `Last day of the range, inclusive; at most ${MAX_USAGE_RANGE_DAYS} days after \`from\`.` }),
      keyId: t.arg.id({ description: 'Only this API key.' }),
      environment: t.arg({ type: EnvironmentEnum, description: 'Only keys of this environment.' }),
      first: t.arg.int({ description: 'Page size, 1 to 100 (default 20).' }),
      after: t.arg.string({ description: 'Cursor from `pageInfo.endCursor`.' }),
    },
    resolve: (_root, args, ctx) =>
      getUsage(ctx.app, sessionAccountId(ctx), { ...args, keyId: args.keyId === null || args.keyId === undefined ? null : String(args.keyId) }),
  }),
}));
