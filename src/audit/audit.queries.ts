import type { AuditEventsTable, DbOrTrx } from '../db/database.ts';
import { newId } from '../ids.ts';

export interface AuditEventInput {
  accountId: string;
  actorType: AuditEventsTable['actor_type'];
  actorId: string | null;
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  ip?: string | null;
  /** Never a secret: names, scopes, amounts, reasons. */
  metadata?: Record<string, unknown>;
  at: number;
}

export async function insertAuditEvent(db: DbOrTrx, event: AuditEventInput): Promise<void> {
  await db
    .insertInto('audit_events')
    .values({
      id: newId('aud', event.at),
      account_id: event.accountId,
      actor_type: event.actorType,
      actor_id: event.actorId,
      action: event.action,
      target_type: event.targetType ?? null,
      target_id: event.targetId ?? null,
      ip: event.ip ?? null,
      metadata: JSON.stringify(event.metadata ?? {}),
      created_at: event.at,
    })
    .execute();
}

export async function listAuditEvents(db: DbOrTrx, accountId: string, limit: number, afterId: string | null, action: string | null = null) {
  let query = db.selectFrom('audit_events').selectAll().where('account_id', '=', accountId);
  if (afterId) query = query.where('id', '<', afterId);
  if (action) query = query.where('action', '=', action);
  return query.orderBy('id', 'desc').limit(limit + 1).execute();
}
