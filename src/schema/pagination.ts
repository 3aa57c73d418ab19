// Relay cursor connections over time-ordered ids (see `newId`): the cursor is the last
// id seen, base64url-encoded so that clients treat it as opaque.
import type { ObjectRef } from '@pothos/core';
import { badUserInput } from '../errors.ts';
import { type BuilderTypes, builder } from './builder.ts';
import { PageInfoRef } from './scalars.ts';

export const MAX_PAGE_SIZE = 100;

export interface Page<T> {
  edges: { node: T; cursor: string }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export interface PageArgs {
  first?: number | null;
  after?: string | null;
}

export function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[a-z]+_[0-9A-Za-z]+$/.test(id)) throw badUserInput('`after` is not a cursor from this connection.', { field: 'after' });
  return id;
}

/** Validated page size and decoded cursor; `first` defaults to 20 and is bounded 1..100. */
export function pageWindow(args: PageArgs): { limit: number; afterId: string | null } {
  const first = args.first ?? 20;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw badUserInput(`\`first\` must be between 1 and ${MAX_PAGE_SIZE}.`, { field: 'first' });
  }
  return { limit: first, afterId: args.after ? decodeCursor(args.after) : null };
}

/** Rows fetched with `limit + 1`, newest first, become a page. */
export function toPage<T>(rows: T[], limit: number, idOf: (row: T) => string): Page<T> {
  const nodes = rows.slice(0, limit);
  const edges = nodes.map((node) => ({ node, cursor: encodeCursor(idOf(node)) }));
  return {
    edges,
    pageInfo: { hasNextPage: rows.length > limit, endCursor: edges.at(-1)?.cursor ?? null },
  };
}

/** Declares `<Name>Connection` and `<Name>Edge` for a node type. */
export function connectionOf<T>(name: string, nodeRef: ObjectRef<BuilderTypes, T>, description: string) {
  const edge = builder.objectRef<{ node: T; cursor: string }>(`${name}Edge`).implement({
    description: `One ${name} in a page.`,
    fields: (t) => ({
      // The node's shape is exactly the ref's T; Pothos cannot see that through the generic.
      node: t.field({ type: nodeRef, description: `The ${name}.`, resolve: (e) => e.node as never }),
      cursor: t.exposeString('cursor', { description: 'Opaque position of this edge.' }),
    }),
  });
  return builder.objectRef<Page<T>>(`${name}Connection`).implement({
    description,
    fields: (t) => ({
      edges: t.field({ type: [edge], description: 'The page, newest first.', resolve: (p) => p.edges }),
      pageInfo: t.field({ type: PageInfoRef, description: 'Paging state.', resolve: (p) => p.pageInfo }),
    }),
  });
}
