import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import { ErrorCode, errorCodeDescriptions } from '../errors.ts';
import { builder } from './builder.ts';

builder.addScalarType('DateTime', DateTimeResolver, {
  description: 'An instant, as an RFC 3339 string in UTC (`2026-11-23T10:00:00.000Z`).',
});
builder.addScalarType('JSON', JSONResolver, { description: 'Any JSON value.' });

builder.enumType('ErrorCode', {
  description:
    'Every GraphQL error carries one of these in `extensions.code`. Declared here so that generated clients can switch on it; no field returns it.',
  values: Object.fromEntries(
    Object.values(ErrorCode).map((code) => [code, { description: errorCodeDescriptions[code] }]),
  ) as Record<ErrorCode, { description: string }>,
});

export const EnvironmentEnum = builder.enumType('Environment', {
  description: 'LIVE data is real and charged; TEST data is kept apart and never charged.',
  values: {
    LIVE: { description: 'Production: charged, counted, real.' },
    TEST: { description: 'Sandbox: never charged, kept apart from LIVE data.' },
  } as const,
});

export const PageInfoRef = builder
  .objectRef<{ hasNextPage: boolean; endCursor: string | null }>('PageInfo')
  .implement({
    description: 'Where a page of a connection ends (Relay cursor connections).',
    fields: (t) => ({
      hasNextPage: t.exposeBoolean('hasNextPage', { description: 'Whether another page follows.' }),
      hasPreviousPage: t.boolean({
        description: 'Always false: connections page forward only.',
        resolve: () => false,
      }),
      endCursor: t.exposeString('endCursor', {
        nullable: true,
        description: 'Pass as `after` to get the next page.',
      }),
    }),
  });

// The "Query" and "Mutation" roots; fields are added by the features.
builder.queryType({ description: 'Reads. API keys need the READ scope (or READ_WRITE).' });
builder.mutationType({ description: 'Writes. API keys need the WRITE scope (or READ_WRITE).' });
