import { sessionAccountId } from '../auth/viewer.ts';
import { builder } from '../schema/builder.ts';
import { connectionOf } from '../schema/pagination.ts';
import { type AuditEvent, listAuditTrail } from './audit.service.ts';

const AuditActorTypeEnum = builder.enumType('AuditActorType', {
  description: 'Who acted.',
  values: {
    SESSION: { value: 'session', description: 'A dashboard session (`actorId` is the session id; null before sign-in).' },
    API_KEY: { value: 'api_key', description: 'An API key (`actorId` is the key id).' },
    OPERATOR: { value: 'operator', description: 'An operator, through the command line.' },
    SYSTEM: { value: 'system', description: 'Keyscope itself (emailed links, expiries, workers).' },
  } as const,
});

const AuditEventRef = builder.objectRef<AuditEvent>('AuditEvent').implement({
  description: 'Something that happened to the account: who, what, when and from which address. Never holds a secret.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Opaque id (`aud_…`).' }),
    action: t.exposeString('action', {
      description:
        'What happened, e.g. `api_key.created`, `api_key.updated`, `api_key.rolled`, `api_key.revoked`, `login`, `login.failed`, `logout`, `password.reset`, `webhook.set`, `webhook.deleted`, `webhook.secret_rotated`, `credits.granted`, `credits.claimed`, `credits.corrected`, `settings.updated`.',
    }),
    actorType: t.field({ type: AuditActorTypeEnum, description: 'Who acted.', resolve: (e) => e.actorType }),
    actorId: t.exposeString('actorId', { nullable: true, description: 'The session or key that acted, when there is one.' }),
    targetType: t.exposeString('targetType', { nullable: true, description: 'The kind of object acted on (`api_key`, `webhook`, `credit_ledger`, …).' }),
    targetId: t.exposeString('targetId', { nullable: true, description: 'The id of the object acted on.' }),
    ip: t.exposeString('ip', { nullable: true, description: 'Client address of the request, when it came over HTTP.' }),
    metadata: t.field({ type: 'JSON', description: 'Details: names, scopes, amounts, reasons. Never a secret.', resolve: (e) => e.metadata }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When.' }),
  }),
});

const AuditEventConnection = connectionOf<AuditEvent>('AuditEvent', AuditEventRef, 'A page of audit events, newest first.');

builder.queryFields((t) => ({
  auditEvents: t.field({
    type: AuditEventConnection,
    nullable: true,
    description: "The account's audit trail, newest first.",
    args: {
      first: t.arg.int({ description: 'Page size, 1 to 100 (default 20).' }),
      after: t.arg.string({ description: 'Cursor from `pageInfo.endCursor`.' }),
      action: t.arg.string({ description: 'Only events with this action, e.g. `credits.claimed`.' }),
    },
    resolve: (_root, args, ctx) => listAuditTrail(ctx.app, sessionAccountId(ctx), args),
  }),
}));
