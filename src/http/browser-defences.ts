// What a browser on another site could make a signed-in dashboard user's browser do, and
// what stops it:
//   - CORS only for the origins in KEYSCOPE_CORS_ORIGINS (graphql-yoga's default reflects
//     any origin with credentials); every other origin gets no Access-Control-* header;
//   - requests a page can send cross-site without a preflight ("simple" requests: form and
//     text content types) are refused when they carry cookies: 415, BAD_USER_INPUT;
//   - mutations over GET are refused with 405 by graphql-yoga itself;
//   - GraphiQL is served with a Content-Security-Policy that allows only its own inline
//     script (by hash), never framing, and no referrer; every response says nosniff.
import { createHash } from 'node:crypto';
import type { CORSOptions, GraphiQLOptions, Plugin } from 'graphql-yoga';
import type { GraphQLContext } from '../context.ts';
import type { AppDeps } from '../deps.ts';
import { keyscopeError } from '../errors.ts';
import { cookieNames, readSessionCookies } from '../sessions/session-cookies.ts';
import { authenticateAccessCookie } from '../sessions/sessions.service.ts';

/** Content types a cross-site page can POST without a CORS preflight. */
const SIMPLE_CONTENT_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);

const CORS_REQUEST_HEADERS = ['content-type', 'accept', 'authorization', 'x-api-key', 'x-keyscope-csrf', 'x-request-id'];
const CORS_EXPOSED_HEADERS = ['x-request-id', 'ratelimit', 'ratelimit-policy', 'retry-after'];

function originOf(text: string): string | null {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.origin : null;
  } catch {
    return null;
  }
}

/** Yoga's `cors` option: the allow-listed origin with credentials, else no CORS at all. */
export function corsFromAllowlist(allowlist: string[]): (request: Request) => CORSOptions | false {
  const allowed = new Set(allowlist.map(originOf).filter((o): o is string => o !== null));
  return (request) => {
    const sent = request.headers.get('origin');
    const origin = sent ? originOf(sent) : null;
    if (!origin || origin !== sent || !allowed.has(origin)) return false;
    return {
      origin: [origin],
      credentials: true,
      methods: ['GET', 'POST'],
      allowedHeaders: CORS_REQUEST_HEADERS,
      exposedHeaders: CORS_EXPOSED_HEADERS,
      maxAge: 600,
    };
  };
}

/** GraphiQL (and with it the schema) for development, or for a signed-in dashboard session. */
export function graphiqlAccess(deps: AppDeps, options: GraphiQLOptions): (request: Request) => Promise<GraphiQLOptions | false> {
  const names = cookieNames(deps.config.secureCookies);
  return async (request) => {
    if (deps.config.exposeSchemaToAnonymous) return options;
    const { access } = readSessionCookies(request.headers.get('cookie'), names);
    return access && (await authenticateAccessCookie(deps, access)) ? options : false;
  };
}

function sha256Base64(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('base64');
}

/**
 * Renders GraphiQL from the local assets and remembers the Content-Security-Policy that fits
 * the page: its inline scripts allowed by hash, Monaco's workers from blob: URLs, Monaco's
 * injected styles inline. The page only changes with its options, so each is hashed once.
 */
export class GraphiqlPage {
  readonly #policies = new Map<string, string>();
  #latest: string | null = null;
  // GraphiQL's bundle is a 9 MB module (~48 MB resident once loaded): loaded on the first
  // page view, not at start-up, since servers behind keys rarely serve it.
  #renderer: Promise<typeof import('@graphql-yoga/render-graphiql')> | null = null;

  readonly render = async (options: GraphiQLOptions): Promise<string> => {
    this.#renderer ??= import('@graphql-yoga/render-graphiql');
    const { renderGraphiQL } = await this.#renderer;
    const html = renderGraphiQL(options);
    const key = JSON.stringify(options);
    let policy = this.#policies.get(key);
    if (!policy) {
      const hashes = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => `'sha256-${sha256Base64(m[1] ?? '')}'`);
      policy = [
        "default-src 'none'",
        `script-src ${hashes.join(' ')}`,
        'worker-src blob:',
        "style-src 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
      ].join('; ');
      if (this.#policies.size > 16) this.#policies.clear();
      this.#policies.set(key, policy);
    }
    this.#latest = policy;
    return html;
  };

  get policy(): string | null {
    return this.#latest;
  }
}

function mediaType(request: Request): string {
  return (request.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

export function browserDefencesPlugin(page: GraphiqlPage): Plugin<GraphQLContext> {
  return {
    onRequestParse({ request }) {
      if (request.method === 'POST' && request.headers.has('cookie') && SIMPLE_CONTENT_TYPES.has(mediaType(request))) {
        throw keyscopeError(
          'BAD_USER_INPUT',
          'Requests that carry cookies must be sent as application/json; form and text content types are refused.',
          { reason: 'content_type', http: { status: 415 } },
        );
      }
    },

    onResponse({ response }) {
      const headers = response.headers;
      headers.set('X-Content-Type-Options', 'nosniff');
      headers.set('Referrer-Policy', 'no-referrer');
      headers.set('X-Frame-Options', 'DENY');
      // Whether CORS headers are sent depends on the Origin: shared caches must know.
      if (!/\borigin\b/i.test(headers.get('vary') ?? '')) headers.append('Vary', 'Origin');
      const html = headers.get('content-type')?.startsWith('text/html') ?? false;
      const policy = html ? page.policy : null;
      headers.set('Content-Security-Policy', policy ?? "default-src 'none'; frame-ancestors 'none'");
      if (!headers.has('cache-control')) headers.set('Cache-Control', 'no-store');
    },
  };
}
