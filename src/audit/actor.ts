import type { RequestState } from '../context.ts';
import type { AuditEventInput } from './audit.queries.ts';

/** Who did it and from where, for an audit event, from the request's viewer. */
export function actorOf(state: RequestState): Pick<AuditEventInput, 'actorType' | 'actorId' | 'ip'> {
  const viewer = state.viewer;
  if (viewer.kind === 'session') return { actorType: 'session', actorId: viewer.sessionId, ip: state.clientIp };
  if (viewer.kind === 'apiKey') return { actorType: 'api_key', actorId: viewer.key.id, ip: state.clientIp };
  return { actorType: 'system', actorId: null, ip: state.clientIp };
}
