// The baseline: bare graphql-yoga + Pothos with a `{ hello }` field, Yoga's defaults, the
// same package versions as Keyscope.
import SchemaBuilder from '@pothos/core';
import { createYoga } from 'graphql-yoga';

export function createBaselineYoga() {
  const builder = new SchemaBuilder({});
  builder.queryType({
    fields: (t) => ({
      hello: t.string({ resolve: () => 'world' }),
    }),
  });
  return createYoga({ schema: builder.toSchema() });
}
