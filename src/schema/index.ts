// Every feature's schema module, imported for its side effects on the builder, then built.
import { type GraphQLSchema, lexicographicSortSchema } from 'graphql';
import { accessPhrase } from '../auth/permissions.ts';
import { builder } from './builder.ts';
import './scalars.ts';
import '../accounts/accounts.schema.ts';
import '../api-keys/api-keys.schema.ts';
import '../credits/credits.schema.ts';
import '../jobs/jobs.schema.ts';
import '../usage/usage.schema.ts';
import '../audit/audit.schema.ts';
import '../settings/settings.schema.ts';
import '../webhooks/webhooks.schema.ts';

let built: GraphQLSchema | undefined;

/** Each root field's description ends with what its permission rule needs. */
function describeAccess(schema: GraphQLSchema): GraphQLSchema {
  for (const root of ['Query', 'Mutation'] as const) {
    const type = root === 'Query' ? schema.getQueryType() : schema.getMutationType();
    for (const field of Object.values(type?.getFields() ?? {})) {
      const phrase = accessPhrase(root, field.name) ?? 'Denied: this field has no rule in the permission map.';
      field.description = `${(field.description ?? '').trim()}\n\n${phrase}`.trim();
    }
  }
  return schema;
}

/** The schema as written in code (before permissions are applied), sorted. */
export function buildSchema(): GraphQLSchema {
  built ??= lexicographicSortSchema(describeAccess(builder.toSchema()));
  return built;
}
