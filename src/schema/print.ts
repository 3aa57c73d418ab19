// `npm run schema`: writes schema.graphql from the code.
import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { buildSchema } from './index.ts';

export function printKeyscopeSchema(): string {
  return `${printSchema(buildSchema())}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(new URL('../../schema.graphql', import.meta.url), printKeyscopeSchema());
  process.stdout.write('schema.graphql written\n');
}
