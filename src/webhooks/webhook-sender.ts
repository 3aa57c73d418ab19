// One HTTP POST to a receiver, and nothing more: no redirects followed, a hard time limit,
// at most a small piece of the answer read. Unless private webhooks are allowed, the
// connection goes through request-filtering-agent, which checks the address actually
// connected to (after DNS), so a name re-pointed at a private address is refused.
import http from 'node:http';
import https from 'node:https';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';
import { WebhookUrlError, checkWebhookUrlShape } from './webhook-url.ts';

export type AttemptError = 'HTTP_STATUS' | 'REDIRECT' | 'TIMEOUT' | 'DNS' | 'CONNECTION' | 'TLS' | 'ADDRESS_REFUSED' | 'SIGNING_FAILED';

export interface SendResult {
  statusCode: number | null;
  durationMs: number;
  errorClass: AttemptError | null;
  responseExcerpt: string | null;
}

export interface SendOptions {
  allowPrivate: boolean;
  timeoutMs: number;
}

const MAX_BODY_BYTES_READ = 1024;
const MAX_EXCERPT_CHARS = 200;

// No keep-alive: every attempt connects afresh, so every attempt's address is checked.
const agents = {
  filtered: { http: new RequestFilteringHttpAgent({ keepAlive: false }), https: new RequestFilteringHttpsAgent({ keepAlive: false }) },
  open: { http: new http.Agent({ keepAlive: false }), https: new https.Agent({ keepAlive: false }) },
};

class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/** Printable text only (no control, zero-width or bidi characters), whitespace collapsed, 200 characters at most. */
export function sanitiseExcerpt(bytes: Buffer): string | null {
  const text = bytes
    .toString('utf8')
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}\ufffd]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const excerpt = Array.from(text).slice(0, MAX_EXCERPT_CHARS).join('');
  return excerpt === '' ? null : excerpt;
}

function classify(error: unknown): AttemptError {
  if (error instanceof TimeoutError) return 'TIMEOUT';
  if (error instanceof WebhookUrlError) return 'ADDRESS_REFUSED';
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  const message = error instanceof Error ? error.message : '';
  // request-filtering-agent refuses with a plain Error: "DNS lookup <address>(…) is not allowed. …"
  if (!code && /is not allowed/.test(message)) return 'ADDRESS_REFUSED';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EAI_NODATA') return 'DNS';
  if (/^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_CERT)/.test(code) || /certificate|ssl|tls/i.test(message)) return 'TLS';
  return 'CONNECTION';
}

/** POSTs `body` with `headers`; never throws: every failure becomes an error class. */
export function postWebhook(rawUrl: string, headers: Record<string, string>, body: string, options: SendOptions): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let url: URL;
  try {
    // The address rule again, for literals (the URL may predate a tightened configuration).
    url = checkWebhookUrlShape(rawUrl, options.allowPrivate);
  } catch (error) {
    return Promise.resolve({ statusCode: null, durationMs: 0, errorClass: classify(error), responseExcerpt: null });
  }
  const secure = url.protocol === 'https:';
  const pool = options.allowPrivate ? agents.open : agents.filtered;
  return new Promise<SendResult>((resolve) => {
    let settled = false;
    const finish = (result: Omit<SendResult, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, durationMs: elapsed() });
    };
    const request = (secure ? https : http).request(url, {
      method: 'POST',
      agent: secure ? pool.https : pool.http,
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'Keyscope-Webhooks/1.0' },
    });
    const timer = setTimeout(() => request.destroy(new TimeoutError('no answer in time')), options.timeoutMs);
    request.on('error', (error) => finish({ statusCode: null, errorClass: classify(error), responseExcerpt: null }));
    request.on('response', (response) => {
      const statusCode = response.statusCode ?? null;
      const chunks: Buffer[] = [];
      let read = 0;
      const done = () => {
        const ok = statusCode !== null && statusCode >= 200 && statusCode < 300;
        const redirect = statusCode !== null && statusCode >= 300 && statusCode < 400;
        finish({ statusCode, errorClass: ok ? null : redirect ? 'REDIRECT' : 'HTTP_STATUS', responseExcerpt: sanitiseExcerpt(Buffer.concat(chunks)) });
        response.destroy();
      };
      response.on('data', (chunk: Buffer) => {
        if (read < MAX_BODY_BYTES_READ) chunks.push(chunk.subarray(0, MAX_BODY_BYTES_READ - read));
        read += chunk.length;
        if (read >= MAX_BODY_BYTES_READ) done();
      });
      response.on('end', done);
      // The status is what counts: an answer cut short after it still is an answer.
      response.on('error', done);
      response.on('aborted', done);
    });
    request.end(body);
  });
}
