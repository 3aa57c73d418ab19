// Accessors for resolvers. The permission map has already refused the wrong callers;
// these narrow the viewer's type and fail closed if a field was ever mapped wrongly.
import type { VerifiedApiKey } from '../api-keys/api-key-verifier.ts';
import type { GraphQLContext } from '../context.ts';
import { forbidden, unauthenticated } from '../errors.ts';

export function sessionAccountId(ctx: GraphQLContext): string {
  const viewer = ctx.state.viewer;
  if (viewer.kind === 'session') return viewer.accountId;
  if (viewer.kind === 'anonymous') throw unauthenticated();
  throw forbidden('This field needs a dashboard session; API keys cannot call it.', { reason: 'session_required' });
}

export function callerApiKey(ctx: GraphQLContext): VerifiedApiKey {
  const viewer = ctx.state.viewer;
  if (viewer.kind === 'apiKey') return viewer.key;
  if (viewer.kind === 'anonymous') throw unauthenticated();
  throw forbidden('This field needs an API key.', { reason: 'api_key_required' });
}
