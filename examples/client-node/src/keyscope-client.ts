// A small typed client for Keyscope: it posts a generated document (or, for keys limited to
// registered operations, only the document's SHA-256) with an API key, and returns typed
// data and errors whose `code` is the generated `ErrorCode` enum.
import { ErrorCode, type TypedDocumentString } from './generated/graphql.ts';

export interface KeyscopeError {
  message: string;
  /** null when the server sent a code this client was not generated with. */
  code: ErrorCode | null;
  extensions: Record<string, unknown>;
  path: ReadonlyArray<string | number> | undefined;
}

export interface KeyscopeResult<TData> {
  /** The HTTP status: 200, or 4xx when the whole request was refused. */
  status: number;
  data: TData | null;
  errors: KeyscopeError[];
  /** Response extensions, e.g. `credits: { charged, remaining }` after a metered mutation. */
  extensions: Record<string, unknown>;
  requestId: string | null;
}

export interface KeyscopeClientOptions {
  /** The GraphQL endpoint, e.g. `https://keyscope.example.com/graphql`. */
  url: string;
  apiKey: string;
  /** Send only the operation's hash (persisted operations) instead of its text. */
  persisted?: boolean;
}

interface WireError {
  message?: unknown;
  path?: ReadonlyArray<string | number>;
  extensions?: Record<string, unknown>;
}

const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

function toErrorCode(value: unknown): ErrorCode | null {
  return typeof value === 'string' && ERROR_CODES.has(value) ? (value as ErrorCode) : null;
}

/** Variables are optional exactly when the operation declares none. */
type VariablesArgument<TVariables> = TVariables extends Record<string, never> ? [variables?: TVariables] : [variables: TVariables];

export class KeyscopeClient {
  readonly #options: KeyscopeClientOptions;

  constructor(options: KeyscopeClientOptions) {
    this.#options = options;
  }

  async execute<TData, TVariables>(
    document: TypedDocumentString<TData, TVariables>,
    ...[variables]: VariablesArgument<TVariables>
  ): Promise<KeyscopeResult<TData>> {
    const hash = document.__meta__?.hash;
    const body =
      this.#options.persisted && typeof hash === 'string'
        ? { variables, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }
        : { query: document.toString(), variables };
    const response = await fetch(this.#options.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        authorization: `Bearer ${this.#options.apiKey}`,
      },
      body: JSON.stringify(body),
    });
    const type = response.headers.get('content-type') ?? '';
    if (!type.includes('json')) {
      throw new Error(`Keyscope answered HTTP ${response.status} with ${type || 'no content type'}, not GraphQL`);
    }
    const payload = (await response.json()) as { data?: TData | null; errors?: WireError[]; extensions?: Record<string, unknown> };
    return {
      status: response.status,
      data: payload.data ?? null,
      errors: (payload.errors ?? []).map((error) => ({
        message: typeof error.message === 'string' ? error.message : 'Unknown error',
        code: toErrorCode(error.extensions?.code),
        extensions: error.extensions ?? {},
        path: error.path,
      })),
      extensions: payload.extensions ?? {},
      requestId: response.headers.get('x-request-id'),
    };
  }
}
