// The Pothos builder and its settings. No types are defined here: each feature's
// `<feature>.schema.ts` adds its own, and `schema/index.ts` imports them all.
import SchemaBuilder from '@pothos/core';
import type { GraphQLContext } from '../context.ts';

export interface KeyscopeSchemaTypes {
  Context: GraphQLContext;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
}

export type BuilderTypes = PothosSchemaTypes.ExtendDefaultTypes<KeyscopeSchemaTypes>;

export const builder = new SchemaBuilder<KeyscopeSchemaTypes>({ defaultFieldNullability: false });
