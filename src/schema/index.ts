// Every feature's schema module, imported for its side effects on the builder, then built.
import { type GraphQLSchema, lexicographicSortSchema } from 'graphql';
import { builder } from './builder.ts';
import './scalars.ts';
import '../accounts/accounts.schema.ts';
import '../api-keys/api-keys.schema.ts';

let built: GraphQLSchema | undefined;

/** The schema as written in code (before permissions are applied), sorted. */
export function buildSchema(): GraphQLSchema {
  built ??= lexicographicSortSchema(builder.toSchema());
  return built;
}
