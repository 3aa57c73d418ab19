/* eslint-disable */
import * as types from './graphql.ts';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "mutation CreateJob($input: CreateJobInput!) {\n  createJob(input: $input) {\n    job {\n      id\n      kind\n      status\n      cost\n      charged\n    }\n  }\n}": typeof types.CreateJobDocument,
    "query Credits {\n  credits {\n    balance\n    environment\n  }\n}": typeof types.CreditsDocument,
    "query Viewer {\n  viewer {\n    authMethod\n    account {\n      id\n    }\n    apiKey {\n      id\n      name\n      scope\n      environment\n    }\n  }\n}": typeof types.ViewerDocument,
};
const documents: Documents = {
    "mutation CreateJob($input: CreateJobInput!) {\n  createJob(input: $input) {\n    job {\n      id\n      kind\n      status\n      cost\n      charged\n    }\n  }\n}": types.CreateJobDocument,
    "query Credits {\n  credits {\n    balance\n    environment\n  }\n}": types.CreditsDocument,
    "query Viewer {\n  viewer {\n    authMethod\n    account {\n      id\n    }\n    apiKey {\n      id\n      name\n      scope\n      environment\n    }\n  }\n}": types.ViewerDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CreateJob($input: CreateJobInput!) {\n  createJob(input: $input) {\n    job {\n      id\n      kind\n      status\n      cost\n      charged\n    }\n  }\n}"): typeof import('./graphql.ts').CreateJobDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Credits {\n  credits {\n    balance\n    environment\n  }\n}"): typeof import('./graphql.ts').CreditsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Viewer {\n  viewer {\n    authMethod\n    account {\n      id\n    }\n    apiKey {\n      id\n      name\n      scope\n      environment\n    }\n  }\n}"): typeof import('./graphql.ts').ViewerDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
