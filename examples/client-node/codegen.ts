// GraphQL Code Generator configuration for the typed client (`npm run codegen`, from the
// project folder). The schema is the committed schema.graphql: no server needs to run.
import type { CodegenConfig } from '@graphql-codegen/cli';

export const GENERATED_DIR = 'examples/client-node/src/generated/';

/** The configuration, writing into `outputDir` (the test generates elsewhere to compare). */
export function clientCodegenConfig(outputDir: string = GENERATED_DIR): CodegenConfig {
  return {
    schema: 'schema.graphql',
    documents: ['examples/client-node/src/operations/*.graphql'],
    ignoreNoDocuments: false,
    silent: true,
    generates: {
      [outputDir]: {
        preset: 'client',
        presetConfig: {
          fragmentMasking: false,
          // Each operation carries the SHA-256 of its text, and persisted-documents.json lists
          // them all: `npm run keyscope -- persisted-operations register` reads that file.
          persistedDocuments: { mode: 'embedHashInDocument', hashAlgorithm: 'sha256' },
        },
        config: {
          documentMode: 'string',
          useTypeImports: true,
          emitLegacyCommonJSImports: false,
          importExtension: '.ts',
          enumsAsTypes: false,
          scalars: { DateTime: 'string', JSON: 'unknown' },
          strictScalars: true,
          onlyOperationTypes: true,
        },
      },
    },
  };
}

const config = clientCodegenConfig();
// biome-ignore lint/style/noDefaultExport: graphql-codegen loads its configuration from the default export
export default config;
