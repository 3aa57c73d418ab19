import type { Account } from './accounts.queries.ts';
import { builder } from '../schema/builder.ts';
import { selectsOnly } from '../schema/selection.ts';
import { ApiKeyRef } from '../api-keys/api-keys.schema.ts';
import { getApiKey } from '../api-keys/api-keys.service.ts';
import { unauthenticated } from '../errors.ts';
import { clearSessionCookies, logout, rotateRefreshToken } from '../sessions/sessions.service.ts';
import {
  getAccount,
  login,
  register,
  requestPasswordReset,
  resendVerificationEmail,
  resetPassword,
  verifyEmail,
} from './accounts.service.ts';

export const AccountRef = builder.objectRef<Account>('Account').implement({
  description: 'A Keyscope customer: owns API keys, credits and webhooks.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Opaque id (`acct_…`).' }),
    email: t.exposeString('email', { description: 'Sign-in email, lower-cased.' }),
    emailVerified: t.exposeBoolean('emailVerified', { description: 'Whether the email was confirmed; LIVE keys need it.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the account was registered.' }),
  }),
});

const AuthMethodEnum = builder.enumType('AuthMethod', {
  description: 'How the caller authenticated.',
  values: {
    API_KEY: { description: '`Authorization: Bearer` or `X-Api-Key`.' },
    SESSION: { description: 'Dashboard session cookies.' },
  } as const,
});

/** ApiKey fields the verification's record answers as freshly as the database (not lastUsedAt/lastUsedIp). */
const FIELDS_OF_VERIFIED_KEY = new Set(['__typename', 'id', 'name', 'prefix', 'scope', 'environment', 'createdAt', 'expiresAt', 'revokedAt', 'restrictions', 'rateLimit']);

interface ViewerShape {
  accountId: string;
  authMethod: 'API_KEY' | 'SESSION';
  apiKeyId: string | null;
}

const ViewerRef = builder.objectRef<ViewerShape>('Viewer').implement({
  description: 'Who is calling.',
  fields: (t) => ({
    account: t.field({
      type: AccountRef,
      description: 'The account the credentials belong to.',
      resolve: (v, _args, ctx) => getAccount(ctx.app, v.accountId),
    }),
    authMethod: t.field({ type: AuthMethodEnum, description: 'How the caller authenticated.', resolve: (v) => v.authMethod }),
    apiKey: t.field({
      type: ApiKeyRef,
      nullable: true,
      description: 'The key used for this request, with its scope and environment; null for sessions.',
      resolve: (v, _args, ctx, info) => {
        if (!v.apiKeyId) return null;
        // The verified key already holds all but the batched usage fields: no query for them.
        const caller = ctx.state.viewer;
        if (caller.kind === 'apiKey' && caller.key.id === v.apiKeyId && selectsOnly(info, FIELDS_OF_VERIFIED_KEY)) return caller.key.record;
        return getApiKey(ctx.app, v.accountId, v.apiKeyId);
      },
    }),
  }),
});

const HealthRef = builder.objectRef<{ status: string }>('Health').implement({
  description: 'Server health.',
  fields: (t) => ({ status: t.exposeString('status', { description: '`ok` when the database answers.' }) }),
});

builder.queryFields((t) => ({
  health: t.field({
    type: HealthRef,
    nullable: true,
    description: 'Whether the server and its database answer.',
    resolve: async (_root, _args, ctx) => ({ status: (await ctx.app.database.ping()) ? 'ok' : 'unavailable' }),
  }),
  viewer: t.field({
    type: ViewerRef,
    nullable: true,
    description: 'Who is calling.',
    resolve: (_root, _args, ctx) => {
      const viewer = ctx.state.viewer;
      if (viewer.kind === 'anonymous') throw unauthenticated();
      return {
        accountId: viewer.accountId,
        authMethod: viewer.kind === 'apiKey' ? ('API_KEY' as const) : ('SESSION' as const),
        apiKeyId: viewer.kind === 'apiKey' ? viewer.key.id : null,
      };
    },
  }),
}));

const AccountPayload = builder.objectRef<{ account: Account }>('AccountPayload').implement({
  description: 'The account the mutation acted on.',
  fields: (t) => ({ account: t.field({ type: AccountRef, description: 'The account.', resolve: (p) => p.account }) }),
});

const OkPayload = builder.objectRef<{ ok: boolean }>('OkPayload').implement({
  description: 'Acknowledges a mutation that returns nothing else.',
  fields: (t) => ({ ok: t.exposeBoolean('ok', { description: 'Always true when the mutation succeeded.' }) }),
});

const CredentialsInput = builder.inputType('CredentialsInput', {
  description: 'Email and password.',
  fields: (t) => ({
    email: t.string({ required: true, description: 'Email address.' }),
    password: t.string({ required: true, description: '10 to 256 characters.' }),
  }),
});

const TokenInput = builder.inputType('VerifyEmailInput', {
  description: 'The token from a verification email link.',
  fields: (t) => ({ token: t.string({ required: true, description: 'The `token` query parameter of the link.' }) }),
});

const EmailInput = builder.inputType('EmailInput', {
  description: 'An email address.',
  fields: (t) => ({ email: t.string({ required: true, description: 'Email address.' }) }),
});

const ResetPasswordInput = builder.inputType('ResetPasswordInput', {
  description: 'The token from a reset email link and the new password.',
  fields: (t) => ({
    token: t.string({ required: true, description: 'The `token` query parameter of the link.' }),
    password: t.string({ required: true, description: 'The new password, 10 to 256 characters.' }),
  }),
});

builder.mutationFields((t) => ({
  register: t.field({
    type: AccountPayload,
    nullable: true,
    description: 'Creates an account, signs it in (sets session cookies) and emails a verification link.',
    args: { input: t.arg({ type: CredentialsInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { account, cookies } = await register(ctx.app, input, ctx.state.clientIp);
      ctx.state.setCookies.push(...cookies);
      return { account };
    },
  }),
  login: t.field({
    type: AccountPayload,
    nullable: true,
    description: 'Signs in with a fresh session (sets session cookies).',
    args: { input: t.arg({ type: CredentialsInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { account, cookies } = await login(ctx.app, input, ctx.state.clientIp);
      ctx.state.setCookies.push(...cookies);
      return { account };
    },
  }),
  logout: t.field({
    type: OkPayload,
    nullable: true,
    description: 'Ends the current session on the server and clears its cookies. A no-op without a session.',
    resolve: async (_root, _args, ctx) => {
      const viewer = ctx.state.viewer;
      if (viewer.kind === 'session') await logout(ctx.app, viewer, ctx.state.clientIp);
      ctx.state.setCookies.push(...clearSessionCookies(ctx.app));
      return { ok: true };
    },
  }),
  refreshSession: t.field({
    type: AccountPayload,
    nullable: true,
    description:
      'Rotates the refresh cookie and issues a new access cookie. Replaying an already-rotated refresh cookie ends the whole session.',
    resolve: async (_root, _args, ctx) => {
      try {
        const { accountId, cookies } = await rotateRefreshToken(ctx.app, ctx.state.refreshCookie);
        ctx.state.setCookies.push(...cookies);
        return { account: await getAccount(ctx.app, accountId) };
      } catch (error) {
        ctx.state.setCookies.push(...clearSessionCookies(ctx.app));
        throw error;
      }
    },
  }),
  verifyEmail: t.field({
    type: AccountPayload,
    nullable: true,
    description: 'Confirms the email with the token from the verification link.',
    args: { input: t.arg({ type: TokenInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ account: await verifyEmail(ctx.app, input.token, ctx.state.clientIp) }),
  }),
  resendVerificationEmail: t.field({
    type: OkPayload,
    nullable: true,
    description: 'Sends a new verification link (voiding the previous one) if the account exists and is unverified. Same answer either way.',
    args: { input: t.arg({ type: EmailInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await resendVerificationEmail(ctx.app, input.email, ctx.state.clientIp);
      return { ok: true };
    },
  }),
  requestPasswordReset: t.field({
    type: OkPayload,
    nullable: true,
    description: 'Emails a one-hour reset link if the email has an account. Same answer either way.',
    args: { input: t.arg({ type: EmailInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await requestPasswordReset(ctx.app, input.email, ctx.state.clientIp);
      return { ok: true };
    },
  }),
  resetPassword: t.field({
    type: OkPayload,
    nullable: true,
    description: 'Sets a new password with the token from the reset link and ends every session of the account.',
    args: { input: t.arg({ type: ResetPasswordInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await resetPassword(ctx.app, input, ctx.state.clientIp);
      return { ok: true };
    },
  }),
}));
