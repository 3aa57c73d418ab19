// The baseline: a bare graphql-yoga + Pothos server answering `{ hello }`, with Yoga's
// defaults and the same package versions as Keyscope. Loopback only.
import { createServer } from 'node:http';
import SchemaBuilder from '@pothos/core';
import { createYoga } from 'graphql-yoga';

const builder = new SchemaBuilder({});
builder.queryType({
  fields: (t) => ({
    hello: t.string({ resolve: () => 'world' }),
  }),
});

const yoga = createYoga({ schema: builder.toSchema() });
const server = createServer(yoga);
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
