// Where a webhook may point. Checked when it is set (here, including a DNS look-up) and
// again at every delivery, where the connection itself goes through request-filtering-agent
// so that a name re-pointed to a private address after it was set (DNS rebinding) is
// refused by the address actually connected to.
import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { badUserInput } from '../errors.ts';

export const MAX_URL_LENGTH = 2048;
const LOOKUP_TIMEOUT_MS = 5_000;

export type HostLookup = (hostname: string) => Promise<string[]>;

const systemLookup: HostLookup = async (hostname) => (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Only globally routable unicast addresses. ipaddr.js names every other range: loopback,
 * private, linkLocal (169.254.169.254, the cloud metadata address), carrierGradeNat,
 * multicast, unspecified, broadcast, reserved, uniqueLocal, and the IPv6 forms that embed an
 * IPv4 address (ipv4Mapped, rfc6052, 6to4, teredo), which are refused whatever they embed.
 * request-filtering-agent applies the same rule at connect time.
 */
export function addressRange(address: string): string {
  return ipaddr.parse(address).range();
}

export function isPublicAddress(address: string): boolean {
  return ipaddr.isValid(address) && addressRange(address) === 'unicast';
}

/** The hostname as an address literal (brackets removed), or null for a DNS name. */
function addressLiteral(url: URL): string | null {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return ipaddr.isValid(host) ? host : null;
}

export class WebhookUrlError extends Error {
  override name = 'WebhookUrlError';
}

/**
 * The checks that need no network: scheme, credentials, and a host that is an address
 * literal (the WHATWG parser has already turned `2130706433` and `0x7f.1` into 127.0.0.1).
 * Returns the normalised URL.
 */
export function checkWebhookUrlShape(raw: string, allowPrivate: boolean): URL {
  if (raw.length > MAX_URL_LENGTH) throw new WebhookUrlError(`The URL is longer than ${MAX_URL_LENGTH} characters.`);
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new WebhookUrlError('The URL is not a valid absolute URL.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new WebhookUrlError('Only https URLs are accepted.');
  if (url.protocol === 'http:' && !allowPrivate) throw new WebhookUrlError('Only https URLs are accepted (http only where private webhooks are allowed).');
  if (url.username || url.password) throw new WebhookUrlError('The URL must not carry credentials; verify deliveries by their signature instead.');
  if (!url.hostname) throw new WebhookUrlError('The URL has no host.');
  const literal = addressLiteral(url);
  if (literal && !allowPrivate && !isPublicAddress(literal)) {
    throw new WebhookUrlError(`The URL points to a non-public address (${addressRange(literal)}).`);
  }
  return url;
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WebhookUrlError('The host name did not resolve in time.')), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The full check made when a webhook is set: the shape, then every address the name
 * resolves to must be public (unless private webhooks are allowed). Refusals are
 * BAD_USER_INPUT on `url`.
 */
export async function validateWebhookUrl(raw: string, allowPrivate: boolean, resolve: HostLookup = systemLookup): Promise<string> {
  try {
    const url = checkWebhookUrlShape(raw, allowPrivate);
    if (!allowPrivate && !addressLiteral(url)) {
      let addresses: string[];
      try {
        addresses = await withTimeout(resolve(url.hostname), LOOKUP_TIMEOUT_MS);
      } catch (error) {
        if (error instanceof WebhookUrlError) throw error;
        throw new WebhookUrlError('The host name does not resolve.');
      }
      if (addresses.length === 0) throw new WebhookUrlError('The host name does not resolve.');
      const refused = addresses.find((a) => !isPublicAddress(a));
      if (refused) {
        throw new WebhookUrlError(`The host name resolves to a non-public address (${ipaddr.isValid(refused) ? addressRange(refused) : 'invalid'}).`);
      }
    }
    return url.href;
  } catch (error) {
    if (error instanceof WebhookUrlError) throw badUserInput(`Invalid webhook URL: ${error.message}`, { field: 'url' });
    throw error;
  }
}
