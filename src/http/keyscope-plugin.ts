// The request lifecycle around GraphQL execution: request ids, authentication,
// whole-request refusals, CSRF, per-key operation restrictions, error normalisation,
// response headers, the access log and usage counting.
import { type ExecutionResult, type GraphQLError, OperationTypeNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { randomUUID } from 'node:crypto';
import { type GraphQLContext, type RequestState, attachRequestState, requestStateOf } from '../context.ts';
import type { AppDeps } from '../deps.ts';
import { ErrorCode, forbidden, graphQLErrorWithoutStack, requestError } from '../errors.ts';
import { authenticate } from './authenticate.ts';
import type { ClientIpResolver } from './client-ip.ts';
import { logEvent } from './logger.ts';
import { rootFieldNames, selectedOperation } from './root-fields.ts';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const CODES = new Set<string>(Object.values(ErrorCode));
const PARSE_OR_VALIDATION = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_REQUEST', 'BAD_USER_INPUT']);

export interface ServerContext {
  req?: { socket?: { remoteAddress?: string } };
  /** Lets tests that use `yoga.fetch` set the peer address. */
  remoteAddress?: string;
}

function newRequestState(request: Request, clientIp: string, at: number): RequestState {
  const sent = request.headers.get('x-request-id');
  return {
    requestId: sent && SAFE_REQUEST_ID.test(sent) ? sent : randomUUID(),
    startedAt: at,
    clientIp,
    viewer: { kind: 'anonymous' },
    hasSessionCookie: false,
    refreshCookie: undefined,
    csrfHeader: false,
    setCookies: [],
    responseHeaders: {},
    credits: null,
    cost: null,
    operationName: null,
    hadErrors: false,
  };
}

/** Every error leaves with a code from the closed list and the request id; never a stack. */
function normaliseError(error: GraphQLError, state: RequestState, authenticated: boolean): GraphQLError {
  const extensions = { ...error.extensions };
  const code = typeof extensions.code === 'string' ? extensions.code : undefined;
  if (!code || !CODES.has(code)) {
    extensions.code = code && PARSE_OR_VALIDATION.has(code) ? 'BAD_USER_INPUT' : error.originalError ? 'INTERNAL_SERVER_ERROR' : 'BAD_USER_INPUT';
  }
  extensions.requestId = state.requestId;
  delete extensions.stacktrace;
  delete extensions.originalError;
  let message = error.message;
  if (!authenticated) message = message.replace(/ ?Did you mean .+\?$/, '');
  return graphQLErrorWithoutStack(message, { nodes: error.nodes, positions: error.positions, path: error.path, extensions });
}

export function keyscopePlugin(deps: AppDeps, resolveClientIp: ClientIpResolver): Plugin<GraphQLContext> {
  return {
    onRequest({ request, serverContext, url, endResponse, fetchAPI }) {
      const server = serverContext as ServerContext;
      const peer = server.req?.socket?.remoteAddress ?? server.remoteAddress ?? '127.0.0.1';
      const state = newRequestState(request, resolveClientIp(peer, request.headers.get('x-forwarded-for')), performance.now());
      attachRequestState(request, state);
      if (url.pathname === '/health') {
        return deps.database.ping().then((up) => {
          endResponse(
            new fetchAPI.Response(JSON.stringify({ status: up ? 'ok' : 'unavailable' }), {
              status: up ? 200 : 503,
              headers: { 'content-type': 'application/json', 'x-request-id': state.requestId, 'cache-control': 'no-store' },
            }),
          );
        });
      }
      return undefined;
    },

    async onRequestParse({ request, url }) {
      const state = requestStateOf(request);
      if (state) state.viewer = await authenticate(deps, request, url, state);
    },

    onExecute({ args, setResultAndStopExecution }) {
      const { state } = args.contextValue;
      const operation = selectedOperation(args.document, args.operationName);
      if (!operation) return;
      state.operationName = operation.name?.value ?? null;
      const viewer = state.viewer;
      if (operation.operation === OperationTypeNode.MUTATION && viewer.kind !== 'apiKey' && state.hasSessionCookie && !state.csrfHeader) {
        setResultAndStopExecution({
          errors: [requestError(forbidden('Mutations with session cookies need the header X-Keyscope-CSRF: 1.', { reason: 'csrf' }))],
        });
        return;
      }
      if (viewer.kind === 'apiKey' && viewer.key.allowedOperations.length > 0) {
        const allowed = viewer.key.allowedOperations;
        const refused = [...rootFieldNames(args.document, operation, args.variableValues)].filter((name) => !allowed.includes(name));
        if (refused.length > 0) {
          setResultAndStopExecution({
            errors: [
              requestError(
                forbidden(`This API key may not run ${refused.join(', ')}.`, { reason: 'operation_not_allowed' }),
              ),
            ],
          });
        }
      }
    },

    onResultProcess({ request, result, setResult }) {
      const state = requestStateOf(request);
      if (!state || Array.isArray(result) || !result || typeof result !== 'object' || !('errors' in result || 'data' in result)) return;
      const execution = result as ExecutionResult;
      if (execution.errors?.length) state.hadErrors = true;
      const authenticated = state.viewer.kind !== 'anonymous';
      const extensions: Record<string, unknown> = { ...execution.extensions };
      if (state.credits) extensions.credits = state.credits;
      if (state.cost) extensions.cost = state.cost;
      setResult({
        ...execution,
        ...(execution.errors ? { errors: execution.errors.map((e) => normaliseError(e, state, authenticated)) } : {}),
        ...(Object.keys(extensions).length > 0 ? { extensions } : {}),
      });
    },

    onResponse({ request, response }) {
      const state = requestStateOf(request);
      if (!state) {
        // Answered before onRequest ran (GraphiQL, CORS preflight): still give it an id.
        const sent = request.headers.get('x-request-id');
        response.headers.set('x-request-id', sent && SAFE_REQUEST_ID.test(sent) ? sent : randomUUID());
        return;
      }
      response.headers.set('x-request-id', state.requestId);
      for (const [name, value] of Object.entries(state.responseHeaders)) response.headers.set(name, value);
      for (const cookie of state.setCookies) response.headers.append('set-cookie', cookie);
      const viewer = state.viewer;
      const at = deps.clock.now();
      if (viewer.kind === 'apiKey') {
        deps.usage.recordRequest(
          { id: viewer.key.id, accountId: viewer.accountId, environment: viewer.key.environment },
          at,
          response.status >= 400 || state.hadErrors,
          state.credits?.charged ?? 0,
        );
      }
      if (deps.config.logRequests) {
        logEvent('request', {
          requestId: state.requestId,
          method: request.method,
          path: new URL(request.url).pathname,
          operation: state.operationName,
          auth: viewer.kind,
          keyId: viewer.kind === 'apiKey' ? viewer.key.id : null,
          status: response.status,
          durationMs: Math.round((performance.now() - state.startedAt) * 10) / 10,
        });
      }
    },
  };
}
