// The audit trail, read back for the account's dashboard.
import type { AuditEventsTable } from '../db/database.ts';
import type { AppDeps } from '../deps.ts';
import { type Page, type PageArgs, pageWindow, toPage } from '../schema/pagination.ts';
import { listAuditEvents } from './audit.queries.ts';

export interface AuditEvent {
  id: string;
  action: string;
  actorType: AuditEventsTable['actor_type'];
  actorId: string | null;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  metadata: unknown;
  createdAt: Date;
}

export function auditRowToEvent(row: AuditEventsTable): AuditEvent {
  return {
    id: row.id,
    action: row.action,
    actorType: row.actor_type,
    actorId: row.actor_id,
    targetType: row.target_type,
    targetId: row.target_id,
    ip: row.ip,
    metadata: JSON.parse(row.metadata),
    createdAt: new Date(row.created_at),
  };
}

export async function listAuditTrail(deps: AppDeps, accountId: string, args: PageArgs & { action?: string | null }): Promise<Page<AuditEvent>> {
  const { limit, afterId } = pageWindow(args);
  const rows = await listAuditEvents(deps.db, accountId, limit, afterId, args.action ?? null);
  return toPage(rows.map(auditRowToEvent), limit, (e) => e.id);
}
