// Usage figures for the dashboard: per key per day, from `usage_daily`. Counts are added up in
// memory (usage-recorder.ts) and written every 30 s and on shutdown, so the newest requests
// may be missing from a report for up to that long.
import { findApiKey } from '../api-keys/api-keys.queries.ts';
import type { Environment } from '../db/database.ts';
import type { AppDeps } from '../deps.ts';
import { badUserInput, notFound } from '../errors.ts';
import { pageWindow } from '../schema/pagination.ts';
import { dayOf } from './usage-recorder.ts';
import { type UsageFilter, listUsageDays, sumUsage } from './usage.queries.ts';

export const MAX_USAGE_RANGE_DAYS = 366;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface UsageDay {
  day: string;
  keyId: string;
  environment: Environment;
  requests: number;
  errors: number;
  creditsCharged: number;
}

export interface UsageTotals {
  requests: number;
  errors: number;
  creditsCharged: number;
}

export interface UsagePage {
  edges: { node: UsageDay; cursor: string }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  filter: UsageFilter;
}

export interface UsageArgs {
  from: Date;
  to: Date;
  keyId?: string | null;
  environment?: Environment | null;
  first?: number | null;
  after?: string | null;
}

function encodeUsageCursor(day: string, keyId: string): string {
  return Buffer.from(`${day}|${keyId}`, 'utf8').toString('base64url');
}

function decodeUsageCursor(cursor: string): { day: string; keyId: string } {
  const [day, keyId, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!day || !keyId || extra !== undefined || !/^\d{4}-\d{2}-\d{2}$/.test(day) || !/^key_[0-9A-Za-z]+$/.test(keyId)) {
    throw badUserInput('`after` is not a cursor from this connection.', { field: 'after' });
  }
  return { day, keyId };
}

export async function getUsage(deps: AppDeps, accountId: string, args: UsageArgs): Promise<UsagePage> {
  const from = args.from.getTime();
  const to = args.to.getTime();
  if (from > to) throw badUserInput('`from` must not be after `to`.', { field: 'from' });
  if (to - from > MAX_USAGE_RANGE_DAYS * DAY_MS) throw badUserInput(`The range may span at most ${MAX_USAGE_RANGE_DAYS} days.`, { field: 'to' });
  const keyId = args.keyId ?? null;
  if (keyId && !(await findApiKey(deps.db, accountId, keyId))) throw notFound('API key');
  const { limit } = pageWindow({ first: args.first });
  const after = args.after ? decodeUsageCursor(args.after) : null;
  const filter: UsageFilter = { accountId, fromDay: dayOf(from), toDay: dayOf(to), keyId, environment: args.environment ?? null };
  const rows = await listUsageDays(deps.db, filter, { limit, after });
  const edges = rows.slice(0, limit).map((r) => ({
    node: {
      day: r.day,
      keyId: r.key_id,
      environment: r.environment,
      requests: Number(r.requests),
      errors: Number(r.errors),
      creditsCharged: Number(r.credits_charged),
    },
    cursor: encodeUsageCursor(r.day, r.key_id),
  }));
  return { edges, pageInfo: { hasNextPage: rows.length > limit, endCursor: edges.at(-1)?.cursor ?? null }, filter };
}

/** Sums over the whole range (every page), with the same filters. */
export function getUsageTotals(deps: AppDeps, filter: UsageFilter): Promise<UsageTotals> {
  return sumUsage(deps.db, filter);
}
