import { builder } from '../schema/builder.ts';
import { connectionOf } from '../schema/pagination.ts';
import { EnvironmentEnum } from '../schema/scalars.ts';
import { sessionAccountId } from '../auth/viewer.ts';
import type { ApiKey } from './api-keys.queries.ts';
import type { Restrictions } from './restrictions.ts';
import { MAX_GRACE_PERIOD_SECONDS, createApiKey, getApiKey, listApiKeys, revokeApiKey, rollApiKey, updateApiKey } from './api-keys.service.ts';

export const ApiKeyScopeEnum = builder.enumType('ApiKeyScope', {
  description: 'What a key may call.',
  values: {
    READ: { description: 'Query fields only.' },
    WRITE: { description: 'Mutation fields only.' },
    READ_WRITE: { description: 'Query and mutation fields.' },
  } as const,
});

const KeyRestrictionsRef = builder.objectRef<Restrictions>('KeyRestrictions').implement({
  description: 'Where and for what a key may be used. An empty list means no limit.',
  fields: (t) => ({
    allowedIps: t.exposeStringList('allowedIps', { description: 'IPv4/IPv6 addresses and CIDR ranges the key may be used from.' }),
    allowedReferrers: t.exposeStringList('allowedReferrers', { description: 'Origins (`https://app.example.com`) the key may be used from, by `Origin` or `Referer`.' }),
    allowedOperations: t.exposeStringList('allowedOperations', { description: 'Root field names the key may execute.' }),
  }),
});

const RateLimitRef = builder.objectRef<{ requests: number; windowSeconds: number }>('RateLimit').implement({
  description: 'A request budget per window; past it, requests get HTTP 429 and RATE_LIMITED.',
  fields: (t) => ({
    requests: t.exposeInt('requests', { description: 'Requests allowed per window.' }),
    windowSeconds: t.exposeInt('windowSeconds', { description: 'Window length in seconds.' }),
  }),
});

export const ApiKeyRef = builder.objectRef<ApiKey>('ApiKey').implement({
  description: 'An API key. Its secret is shown once, when created or rolled; Keyscope keeps only a hash.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Opaque id (`key_…`).' }),
    name: t.exposeString('name', { description: 'A label for people.' }),
    prefix: t.exposeString('prefix', { description: 'The first characters of the current secret (`sk_live_a1B2`), safe to display.' }),
    scope: t.field({ type: ApiKeyScopeEnum, description: 'What the key may call.', resolve: (k) => k.scope }),
    environment: t.field({ type: EnvironmentEnum, description: 'LIVE or TEST.', resolve: (k) => k.environment }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'Creation time.' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true, description: 'Last use; may lag by up to a minute.' }),
    lastUsedIp: t.exposeString('lastUsedIp', { nullable: true, description: 'Client address of the last use; may lag by up to a minute.' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true, description: 'When the key stops working; null for never.' }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true, description: 'When the key was revoked; null while active.' }),
    restrictions: t.field({ type: KeyRestrictionsRef, description: 'IP, referrer and operation restrictions.', resolve: (k) => k.restrictions }),
    rateLimit: t.field({
      type: RateLimitRef,
      nullable: true,
      description: "The key's own rate limit; null means the server default (KEYSCOPE_DEFAULT_RATE_LIMIT).",
      resolve: (k) => k.rateLimit,
    }),
  }),
});

const ApiKeyConnection = connectionOf<ApiKey>('ApiKey', ApiKeyRef, 'A page of API keys, newest first.');

const KeyRestrictionsInput = builder.inputType('KeyRestrictionsInput', {
  description: 'Restrictions to set. A list that is given replaces the current one; an empty list removes the limit.',
  fields: (t) => ({
    allowedIps: t.stringList({ description: 'IPv4/IPv6 addresses and CIDR ranges.' }),
    allowedReferrers: t.stringList({ description: 'Origins such as `https://app.example.com`.' }),
    allowedOperations: t.stringList({ description: 'Root field names (`createJob`, `credits`, …).' }),
  }),
});

const RateLimitInput = builder.inputType('RateLimitInput', {
  description: 'A request budget per window.',
  fields: (t) => ({
    requests: t.int({ required: true, description: '1 to 1000000 requests.' }),
    windowSeconds: t.int({ required: true, description: '1 to 86400 seconds.' }),
  }),
});

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  description: 'A new API key.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'A label for people, 1 to 100 characters.' }),
    scope: t.field({ type: ApiKeyScopeEnum, required: true, description: 'What the key may call.' }),
    environment: t.field({ type: EnvironmentEnum, required: true, description: 'LIVE needs a verified email.' }),
    expiresAt: t.field({ type: 'DateTime', description: 'When the key stops working (future).' }),
    restrictions: t.field({ type: KeyRestrictionsInput, description: 'IP, referrer and operation restrictions.' }),
    rateLimit: t.field({ type: RateLimitInput, description: 'Its own rate limit instead of the server default.' }),
  }),
});

const UpdateApiKeyInput = builder.inputType('UpdateApiKeyInput', {
  description: 'Changes to a key. Omitted fields stay as they are.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The key.' }),
    name: t.string({ description: 'New label.' }),
    restrictions: t.field({ type: KeyRestrictionsInput, description: 'Lists given here replace the current ones.' }),
    rateLimit: t.field({ type: RateLimitInput, description: 'New rate limit.' }),
    clearRateLimit: t.boolean({ description: 'True to return to the server default rate limit.' }),
  }),
});

const KeyIdInput = builder.inputType('RevokeApiKeyInput', {
  description: 'The key to revoke.',
  fields: (t) => ({ id: t.id({ required: true, description: 'The key.' }) }),
});

const RollApiKeyInput = builder.inputType('RollApiKeyInput', {
  description: 'The key to roll and how long its current secret keeps working.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The key.' }),
    gracePeriodSeconds: t.int({
      required: true,
      description: `Seconds the old secret keeps working, 0 (revoke it now) to ${MAX_GRACE_PERIOD_SECONDS}. Rolling again never extends an older secret.`,
    }),
  }),
});

const ApiKeyPayload = builder.objectRef<{ apiKey: ApiKey }>('ApiKeyPayload').implement({
  description: 'The key the mutation acted on.',
  fields: (t) => ({ apiKey: t.field({ type: ApiKeyRef, description: 'The key.', resolve: (p) => p.apiKey }) }),
});

const ApiKeySecretPayload = builder.objectRef<{ apiKey: ApiKey; secret: string }>('ApiKeySecretPayload').implement({
  description: 'A key and its secret. The secret is shown only here, once: store it now.',
  fields: (t) => ({
    apiKey: t.field({ type: ApiKeyRef, description: 'The key.', resolve: (p) => p.apiKey }),
    secret: t.exposeString('secret', { description: 'The full key (`sk_live_…` / `sk_test_…`). Never shown again.' }),
  }),
});

builder.queryFields((t) => ({
  apiKeys: t.field({
    type: ApiKeyConnection,
    nullable: true,
    description: "The account's API keys, newest first.",
    args: {
      first: t.arg.int({ description: 'Page size, 1 to 100 (default 20).' }),
      after: t.arg.string({ description: 'Cursor from `pageInfo.endCursor`.' }),
      environment: t.arg({ type: EnvironmentEnum, description: 'Only keys of this environment.' }),
      includeRevoked: t.arg.boolean({ description: 'Include revoked keys (default false).' }),
    },
    resolve: (_root, args, ctx) => listApiKeys(ctx.app, sessionAccountId(ctx), args),
  }),
  apiKey: t.field({
    type: ApiKeyRef,
    nullable: true,
    description: 'One API key of the account.',
    args: { id: t.arg.id({ required: true, description: 'The key.' }) },
    resolve: (_root, args, ctx) => getApiKey(ctx.app, sessionAccountId(ctx), String(args.id)),
  }),
}));

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: ApiKeySecretPayload,
    nullable: true,
    description: 'Creates a key and returns its secret, once.',
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    resolve: (_root, { input }, ctx) => createApiKey(ctx.app, ctx.state, sessionAccountId(ctx), input),
  }),
  updateApiKey: t.field({
    type: ApiKeyPayload,
    nullable: true,
    description: "Renames a key or changes its restrictions or rate limit; takes effect on the key's next request.",
    args: { input: t.arg({ type: UpdateApiKeyInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({
      apiKey: await updateApiKey(ctx.app, ctx.state, sessionAccountId(ctx), { ...input, id: String(input.id) }),
    }),
  }),
  revokeApiKey: t.field({
    type: ApiKeyPayload,
    nullable: true,
    description: "Revokes a key at once: its next request gets 401. Fires the key's `key.revoked` webhook.",
    args: { input: t.arg({ type: KeyIdInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ apiKey: await revokeApiKey(ctx.app, ctx.state, sessionAccountId(ctx), String(input.id)) }),
  }),
  rollApiKey: t.field({
    type: ApiKeySecretPayload,
    nullable: true,
    description: 'Issues a new secret for the key; the old one works for the grace period only.',
    args: { input: t.arg({ type: RollApiKeyInput, required: true }) },
    resolve: (_root, { input }, ctx) => rollApiKey(ctx.app, ctx.state, sessionAccountId(ctx), { ...input, id: String(input.id) }),
  }),
}));
