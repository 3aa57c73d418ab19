// The permission map: every root field names its rule; anything unlisted is denied.
// Applied to the Query and Mutation roots only: nested objects are reachable only
// through a root field that was allowed, and their owners are checked by the query layer.
import { allow, deny, rule, shield } from 'graphql-shield';
import type { GraphQLContext } from '../context.ts';
import { forbidden, unauthenticated } from '../errors.ts';

type Check = (ctx: GraphQLContext) => true | Error;

const check = (fn: Check) => rule({ cache: 'contextual' })((_parent, _args, ctx: GraphQLContext) => fn(ctx));

const needsSession: Check = ({ state: { viewer } }) => {
  if (viewer.kind === 'session') return true;
  if (viewer.kind === 'anonymous') return unauthenticated();
  return forbidden('This field needs a dashboard session; API keys cannot call it.', { reason: 'session_required' });
};

const scopeCheck =
  (required: 'READ' | 'WRITE', sessionAllowed: boolean): Check =>
  ({ state: { viewer } }) => {
    if (viewer.kind === 'anonymous') return unauthenticated();
    if (viewer.kind === 'session') {
      return sessionAllowed ? true : forbidden('This field needs an API key.', { reason: 'api_key_required' });
    }
    const scope = viewer.key.scope;
    if (scope === 'READ_WRITE' || scope === required) return true;
    return forbidden(`This field needs an API key with the ${required} scope; this key has ${scope}.`, { requiredScope: required });
  };

export const isPublic = allow;
export const sessionOnly = check(needsSession);
export const keyReadOrSession = check(scopeCheck('READ', true));
export const keyWriteOrSession = check(scopeCheck('WRITE', true));
export const keyRead = check(scopeCheck('READ', false));
export const keyWrite = check(scopeCheck('WRITE', false));

/** The rule of every root field. A test fails when a root field is missing here. */
export const permissionMap = {
  Query: {
    '*': deny,
    health: isPublic,
    viewer: keyReadOrSession,
    apiKeys: sessionOnly,
    apiKey: sessionOnly,
    credits: keyReadOrSession,
    creditLedger: sessionOnly,
    job: keyRead,
    jobs: keyRead,
    usage: sessionOnly,
    auditEvents: sessionOnly,
    settings: sessionOnly,
    webhookDeliveries: sessionOnly,
  },
  Mutation: {
    '*': deny,
    register: isPublic,
    login: isPublic,
    logout: isPublic,
    refreshSession: isPublic,
    verifyEmail: isPublic,
    resendVerificationEmail: isPublic,
    requestPasswordReset: isPublic,
    resetPassword: isPublic,
    createApiKey: sessionOnly,
    updateApiKey: sessionOnly,
    revokeApiKey: sessionOnly,
    rollApiKey: sessionOnly,
    claimCredits: sessionOnly,
    createJob: keyWrite,
    updateSettings: sessionOnly,
    setWebhook: sessionOnly,
    deleteWebhook: sessionOnly,
    rotateWebhookSecret: sessionOnly,
    sendTestWebhook: sessionOnly,
  },
};

const accessPhrases = new Map<unknown, string>([
  [isPublic, 'Public: no credentials needed.'],
  [sessionOnly, 'Requires a dashboard session; API keys are refused.'],
  [keyReadOrSession, 'Requires an API key with READ scope (or READ_WRITE), or a session.'],
  [keyWriteOrSession, 'Requires an API key with WRITE scope (or READ_WRITE), or a session.'],
  [keyRead, 'Requires an API key with READ scope (or READ_WRITE).'],
  [keyWrite, 'Requires an API key with WRITE scope (or READ_WRITE).'],
]);

/** What a root field needs, in words: appended to its description so GraphiQL and generated clients show it. */
export function accessPhrase(root: 'Query' | 'Mutation', field: string): string | undefined {
  const rules: Record<string, unknown> = permissionMap[root];
  return accessPhrases.get(rules[field]);
}

export const permissions = shield(permissionMap, {
  allowExternalErrors: true,
  fallbackError: () => forbidden('You are not allowed to call this field.'),
});
