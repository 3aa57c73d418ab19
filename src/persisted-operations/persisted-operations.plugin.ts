// Persisted operations on the wire (Yoga's plugin): any caller may send only
// `extensions.persistedQuery.sha256Hash` of a registered document. With
// KEYSCOPE_PERSISTED_ONLY_FOR_LIVE=1, LIVE API keys may send nothing else; TEST keys,
// dashboard sessions (GraphiQL) and anonymous callers may still send any query text.
// Runs after authentication (onRequestParse comes before onParams), so the viewer is known.
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import type { Plugin } from 'graphql-yoga';
import { type GraphQLContext, requestStateOf } from '../context.ts';
import type { AppDeps } from '../deps.ts';
import { forbidden, keyscopeError, requestError } from '../errors.ts';
import { PersistedDocumentStore } from './persisted-operations.service.ts';

/** Whether this request may carry a query text rather than a registered operation's hash. */
export function mayRunArbitraryOperations(deps: Pick<AppDeps, 'config'>, request: Request): boolean {
  if (!deps.config.persistedOnlyForLive) return true;
  const viewer = requestStateOf(request)?.viewer;
  return !(viewer?.kind === 'apiKey' && viewer.key.environment === 'LIVE');
}

export function persistedOperationsPlugin(deps: AppDeps): Plugin<GraphQLContext> {
  const store = new PersistedDocumentStore(deps.db);
  return usePersistedOperations<GraphQLContext>({
    allowArbitraryOperations: (request) => mayRunArbitraryOperations(deps, request),
    getPersistedOperation: (hash) => store.find(hash),
    customErrors: {
      persistedQueryOnly: () =>
        requestError(
          forbidden('LIVE API keys may run only registered operations: send extensions.persistedQuery.sha256Hash instead of the query text.', {
            reason: 'persisted_operation_required',
          }),
        ),
      notFound: () =>
        requestError(
          keyscopeError('BAD_USER_INPUT', 'No operation is registered under this sha256Hash.', { reason: 'persisted_operation_not_found' }),
        ),
      keyNotFound: () =>
        requestError(
          keyscopeError('BAD_USER_INPUT', 'Send a query, or extensions.persistedQuery { version: 1, sha256Hash } of a registered operation.', {
            reason: 'persisted_operation_missing',
          }),
        ),
    },
  });
}
