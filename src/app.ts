// createApp(options) -> the Yoga server and what it is made of. Tests use it without a port;
// main.ts puts it behind node:http.
import { setFlagsFromString } from 'node:v8';
import { GraphQLError, Kind, NoSchemaIntrospectionCustomRule, isObjectType } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { type Plugin, type YogaServerInstance, createYoga } from 'graphql-yoga';
import { followApiKeyChanges } from './api-keys/api-key-changes.ts';
import { ApiKeyVerifier } from './api-keys/api-key-verifier.ts';
import { LastUsedTracker } from './api-keys/last-used.ts';
import { permissions } from './auth/permissions.ts';
import type { Config } from './config.ts';
import { type GraphQLContext, requestStateOf } from './context.ts';
import type { DatabaseHandle } from './db/connect.ts';
import { type AppDeps, type Clock, systemClock } from './deps.ts';
import { isKeyscopeError } from './errors.ts';
import { GraphiqlPage, browserDefencesPlugin, corsFromAllowlist, graphiqlAccess } from './http/browser-defences.ts';
import { clientIpResolver } from './http/client-ip.ts';
import { keyscopePlugin, type ServerContext } from './http/keyscope-plugin.ts';
import { requestBodyLimit } from './http/request-body-limit.ts';
import { logEvent } from './http/logger.ts';
import { armorPlugins, queryCostPlugin } from './http/query-limits.ts';
import { createMailer, type Mailer } from './mail/mailer.ts';
import { persistedOperationsPlugin } from './persisted-operations/persisted-operations.plugin.ts';
import { createRateLimits } from './rate-limits/rate-limits.ts';
import { buildSchema } from './schema/index.ts';
import { UsageRecorder } from './usage/usage-recorder.ts';

export interface AppOptions {
  config: Config;
  database: DatabaseHandle;
  clock?: Clock;
  mailer?: Mailer;
}

export interface KeyscopeApp {
  yoga: YogaServerInstance<ServerContext, GraphQLContext>;
  deps: AppDeps;
  /** Writes batched counters (lastUsedAt, usage) to the database. */
  flush(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

/** In production, anonymous callers cannot introspect (GraphiQL is refused them too). */
function introspectionGate(config: Config): Plugin<GraphQLContext> {
  return {
    onValidate({ addValidationRule, context }) {
      // Validation runs before the GraphQL context is built: read the state off the request.
      // The rule's name is part of Yoga's validation cache key, so verdicts never cross over.
      const viewer = requestStateOf(context.request)?.viewer;
      if (!config.exposeSchemaToAnonymous && (!viewer || viewer.kind === 'anonymous')) {
        addValidationRule(NoSchemaIntrospectionCustomRule);
      }
    },
  };
}

/** The schema with the permission map applied to the Query and Mutation roots only. */
function protectedSchema() {
  const schema = buildSchema();
  const generated = permissions.generate(schema) as Record<string, unknown>;
  const roots = [schema.getQueryType(), schema.getMutationType()].filter(isObjectType).map((t) => t.name);
  const middleware = Object.fromEntries(roots.map((name) => [name, generated[name]]));
  return applyMiddleware(schema, middleware as Parameters<typeof applyMiddleware>[1]);
}

/**
 * For a serving process (src/main.ts, the benchmark's server), called before it serves. Under
 * load a few KB per request outlive two young-generation collections and die in the old
 * generation, and after each full collection V8 lets the old generation grow to up to four times
 * what survived before it collects again: with some 35 MB live, the sawtooth took the process to
 * 250–260 MB. Growing to at most twice what survived keeps it under 200 MB; the extra full
 * collections did not show in the CPU per request. The young generation is left alone: shrinking
 * it (`--max-semi-space-size=8`) cost 10–25 % more CPU per request.
 */
export function limitHeapGrowth(): void {
  setFlagsFromString('--heap-growing-percent=100');
}

export function createApp(options: AppOptions): KeyscopeApp {
  const { config, database } = options;
  const clock = options.clock ?? systemClock;
  const schema = buildSchema();
  const rootFieldNames = new Set([
    ...Object.keys(schema.getQueryType()?.getFields() ?? {}),
    ...Object.keys(schema.getMutationType()?.getFields() ?? {}),
  ]);
  const deps: AppDeps = {
    config,
    database,
    db: database.db,
    clock,
    mailer: options.mailer ?? createMailer({ smtpUrl: config.smtpUrl, mailDir: config.mailDir }),
    // SQLite: cached from the start (one writer). PostgreSQL: cached while key changes are
    // announced to this instance (followApiKeyChanges), reloaded after a minute regardless.
    keys: new ApiKeyVerifier(database.db, config.serverSecret, clock, {
      cache: database.dialect === 'sqlite',
      maxAgeMs: database.dialect === 'sqlite' ? null : 60_000,
    }),
    lastUsed: new LastUsedTracker(database.db),
    usage: new UsageRecorder(database.db),
    rateLimits: createRateLimits(config, database, clock),
    rootFieldNames,
  };
  followApiKeyChanges(database, deps.keys);

  const development = config.env !== 'production';
  const graphiqlPage = new GraphiqlPage();
  const yoga = createYoga<ServerContext, GraphQLContext>({
    schema: protectedSchema(),
    context: ({ request }) => {
      const state = requestStateOf(request);
      if (!state) throw new Error('request state missing');
      return { request, state, app: deps };
    },
    graphqlEndpoint: '/graphql',
    // Yoga's own /health answers without asking the database; ours (keyscope-plugin) asks.
    healthCheckEndpoint: '/_yoga/liveness',
    landingPage: false,
    // Enforced by requestBodyLimit below, without Yoga's per-request stream pipeline.
    maxRequestBodySize: false,
    batching: false,
    logging: false,
    // GraphiQL is served before authentication runs: graphiqlAccess checks the session itself.
    graphiql: graphiqlAccess(deps, { title: 'Keyscope', shouldPersistHeaders: false, isHeadersEditorEnabled: true }),
    renderGraphiQL: graphiqlPage.render,
    cors: corsFromAllowlist(config.corsOrigins),
    maskedErrors: {
      maskError(error, message) {
        const original = error instanceof GraphQLError ? error.originalError : error;
        // Our coded refusals and graphql's own (syntax, validation, variables) pass through;
        // the located error keeps the original's extensions and adds the path.
        if (error instanceof GraphQLError && (!original || isKeyscopeError(original))) return error;
        // A variable that does not fit its type: graphql-js keeps the coercion failure as the
        // original error; it is the client's input, not a fault.
        if (error instanceof GraphQLError && error.nodes?.[0]?.kind === Kind.VARIABLE_DEFINITION) {
          return new GraphQLError(error.message, { nodes: error.nodes, extensions: { code: 'BAD_USER_INPUT' } });
        }
        logEvent('internal_error', {
          name: original instanceof Error ? original.name : typeof original,
          message: original instanceof Error ? original.message.slice(0, 200) : undefined,
        });
        return new GraphQLError(development && config.env === 'development' ? message : 'Unexpected error.', {
          extensions: { code: 'INTERNAL_SERVER_ERROR' },
        });
      },
    },
    plugins: [
      browserDefencesPlugin(graphiqlPage),
      keyscopePlugin(deps, clientIpResolver(config.trustedProxies)),
      persistedOperationsPlugin(deps),
      introspectionGate(config),
      requestBodyLimit(MAX_BODY_BYTES),
      ...armorPlugins(),
      queryCostPlugin(deps),
    ],
  });

  return {
    yoga,
    deps,
    async flush() {
      await deps.lastUsed.flush();
      await deps.usage.flush();
    },
  };
}
