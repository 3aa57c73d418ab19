// Request bodies over the limit are refused with 413 before they are parsed, as graphql-yoga's
// own `maxRequestBodySize` does, without its cost on every request: Yoga pipes each body
// through a counting TransformStream (a stream pipeline, an AbortController and a
// DOMException per request, about a tenth of a bare Yoga request's time). A body that
// reached us through node:http with a Content-Length is exactly that long (node's parser
// frames it and refuses Content-Length with Transfer-Encoding), so the header alone decides.
// Only bodies without one (chunked), or handed in without a socket (`yoga.fetch`), are counted.
import type { Plugin } from 'graphql-yoga';
import type { GraphQLContext } from '../context.ts';
import { keyscopeError, requestError } from '../errors.ts';
import type { ServerContext } from './keyscope-plugin.ts';

const CONTENT_LENGTH = /^\d+$/;

const tooLarge = (limit: number) =>
  keyscopeError('BAD_USER_INPUT', `Request body too large: at most ${limit} bytes.`, { reason: 'body_too_large', http: { status: 413 } });

async function readAtMost(body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(new ArrayBuffer(size));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}

/** Use with Yoga's `maxRequestBodySize: false`; registered after the request parsers (any plugin position works: Yoga's parsers come first). */
export function requestBodyLimit(limit: number): Plugin<GraphQLContext> {
  return {
    onRequestParse({ request, requestParser, setRequestParser, serverContext, fetchAPI }) {
      const length = request.headers.get('content-length');
      if (length !== null) {
        if (!CONTENT_LENGTH.test(length)) {
          throw requestError(keyscopeError('BAD_USER_INPUT', 'Content-Length header is invalid.', { reason: 'content_length' }));
        }
        if (Number(length) > limit) throw tooLarge(limit);
        // node:http delivers exactly Content-Length bytes: nothing left to count.
        if ((serverContext as ServerContext).req) return;
      }
      if (!requestParser || !request.body) return;
      const parse = requestParser;
      setRequestParser(async (original) => {
        const body = original.body ? await readAtMost(original.body, limit) : null;
        return parse(new fetchAPI.Request(original.url, { method: original.method, headers: original.headers, signal: original.signal, body }));
      });
    },
  };
}
