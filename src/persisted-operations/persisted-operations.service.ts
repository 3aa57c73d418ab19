// Registering persisted operations: documents a client was generated with, addressed by the
// SHA-256 of their text. Each must hash to its id and validate against the schema, or the
// whole file is refused and nothing is stored.
import { Kind, type DocumentNode, parse, validate } from 'graphql';
import type { AppDeps } from '../deps.ts';
import { sha256 } from '../ids.ts';
import { buildSchema } from '../schema/index.ts';
import { findPersistedDocument, insertPersistedOperations } from './persisted-operations.queries.ts';

const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface PersistedDocument {
  hash: string;
  document: string;
}

export class ManifestError extends Error {}

/**
 * Reads a manifest: GraphQL Code Generator's `persisted-documents.json` (`{ "<sha256>": "<document>" }`)
 * or Apollo's persisted query manifest (`{ "format": "apollo-persisted-query-manifest", "operations": [{ "id", "body" }] }`).
 */
export function readManifest(json: unknown): PersistedDocument[] {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new ManifestError('The manifest must be a JSON object.');
  const manifest = json as Record<string, unknown>;
  if (manifest.format === 'apollo-persisted-query-manifest') {
    if (!Array.isArray(manifest.operations)) throw new ManifestError('An Apollo manifest needs an "operations" array.');
    return manifest.operations.map((entry: unknown, index) => {
      const { id, body } = (entry ?? {}) as { id?: unknown; body?: unknown };
      if (typeof id !== 'string' || typeof body !== 'string') throw new ManifestError(`operations[${index}] needs string "id" and "body".`);
      return { hash: id, document: body };
    });
  }
  return Object.entries(manifest).map(([hash, document]) => {
    if (typeof document !== 'string') throw new ManifestError(`The entry "${hash}" is not a document string.`);
    return { hash, document };
  });
}

function operationNameOf(document: DocumentNode): string | null {
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  if (operations.length !== 1) throw new ManifestError('each document must hold exactly one operation');
  return operations[0]?.name?.value ?? null;
}

/** Every problem of every document, so an operator fixes the file in one go. */
function checkDocuments(documents: PersistedDocument[]): Map<string, string | null> {
  const schema = buildSchema();
  const names = new Map<string, string | null>();
  const problems: string[] = [];
  for (const { hash, document } of documents) {
    try {
      if (!SHA256_HEX.test(hash)) throw new ManifestError('the id is not a lowercase hex SHA-256');
      if (sha256(document) !== hash) throw new ManifestError('the id is not the SHA-256 of the document text');
      const ast = parse(document);
      const errors = validate(schema, ast);
      if (errors.length > 0) throw new ManifestError(errors.map((e) => e.message).join(' '));
      names.set(hash, operationNameOf(ast));
    } catch (error) {
      problems.push(`${hash.slice(0, 16)}…: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (problems.length > 0) throw new ManifestError(`Nothing was registered; fix these documents:\n  ${problems.join('\n  ')}`);
  return names;
}

export interface RegisterResult {
  added: { hash: string; operationName: string | null }[];
  alreadyRegistered: number;
}

export async function registerPersistedOperations(deps: Pick<AppDeps, 'db' | 'clock'>, documents: PersistedDocument[]): Promise<RegisterResult> {
  if (documents.length === 0) throw new ManifestError('The manifest holds no documents.');
  const names = checkDocuments(documents);
  const now = deps.clock.now();
  const unique = new Map(documents.map(({ hash, document }) => [hash, document]));
  const rows = [...unique].map(([hash, document]) => ({ hash, document, operation_name: names.get(hash) ?? null, created_at: now }));
  const inserted = new Set(await deps.db.transaction().execute((trx) => insertPersistedOperations(trx, rows)));
  return {
    added: rows.filter((r) => inserted.has(r.hash)).map((r) => ({ hash: r.hash, operationName: r.operation_name })),
    alreadyRegistered: rows.length - inserted.size,
  };
}

const MAX_CACHED = 10_000;

/**
 * Looks documents up by hash. A hash names one text forever, so found documents are cached;
 * misses are not, so an operation registered from another process is seen on its next use.
 */
export class PersistedDocumentStore {
  readonly #db: AppDeps['db'];
  readonly #cache = new Map<string, string>();

  constructor(db: AppDeps['db']) {
    this.#db = db;
  }

  async find(hash: string): Promise<string | null> {
    if (!SHA256_HEX.test(hash)) return null;
    const cached = this.#cache.get(hash);
    if (cached !== undefined) return cached;
    const document = await findPersistedDocument(this.#db, hash);
    if (document === undefined) return null;
    if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
    this.#cache.set(hash, document);
    return document;
  }
}
