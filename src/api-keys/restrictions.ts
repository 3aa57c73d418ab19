// Key restrictions: where a key may be used from (IP ranges, referrer origins) and which
// root fields it may run. Parsed once when the key is loaded, matched on every request.
import ipaddr from 'ipaddr.js';
import { badUserInput } from '../errors.ts';

export interface RestrictionsInput {
  allowedIps?: string[] | null;
  allowedReferrers?: string[] | null;
  allowedOperations?: string[] | null;
}

export interface Restrictions {
  allowedIps: string[];
  allowedReferrers: string[];
  allowedOperations: string[];
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes plain IPv4, so one rule covers both forms. */
export function normaliseIp(address: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (!ipaddr.isValid(bare)) return null;
  return ipaddr.process(bare);
}

export function parseRange(text: string): Range | null {
  const value = text.trim();
  try {
    if (value.includes('/')) {
      const [address, bits] = ipaddr.parseCIDR(value);
      if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
        return [(address as ipaddr.IPv6).toIPv4Address(), Math.max(0, bits - 96)];
      }
      return [address, bits];
    }
  } catch {
    return null;
  }
  const address = normaliseIp(value);
  if (!address) return null;
  return [address, address.kind() === 'ipv4' ? 32 : 128];
}

export function compileRanges(list: string[]): Range[] {
  return list.map((text) => {
    const range = parseRange(text);
    if (!range) throw new Error(`invalid range ${text}`);
    return range;
  });
}

export function ipInRanges(ip: string, ranges: Range[]): boolean {
  const address = normaliseIp(ip);
  if (!address) return false;
  return ranges.some(([network, bits]) => address.kind() === network.kind() && address.match(network, bits));
}

function normaliseOrigin(text: string): string | null {
  try {
    const url = new URL(text);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
    return url.origin;
  } catch {
    return null;
  }
}

/** The request's origin, from `Origin` or else `Referer`. */
export function requestOrigin(headers: Headers): string | null {
  const origin = headers.get('origin');
  if (origin && origin !== 'null') return normaliseOrigin(origin);
  const referer = headers.get('referer');
  return referer ? normaliseOrigin(referer) : null;
}

const OPERATION_NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;
const MAX_ENTRIES = 100;

/** Validates and normalises restrictions from user input; throws BAD_USER_INPUT. */
export function parseRestrictions(input: RestrictionsInput | null | undefined, rootFields: Set<string>): Restrictions {
  const allowedIps = [...new Set(input?.allowedIps ?? [])];
  const allowedReferrers = [...new Set(input?.allowedReferrers ?? [])];
  const allowedOperations = [...new Set(input?.allowedOperations ?? [])];
  for (const list of [allowedIps, allowedReferrers, allowedOperations]) {
    if (list.length > MAX_ENTRIES) throw badUserInput(`At most ${MAX_ENTRIES} entries per restriction list.`);
  }
  const ips = allowedIps.map((ip) => {
    const range = parseRange(ip);
    if (!range) throw badUserInput(`"${ip}" is not an IP address or CIDR range.`, { field: 'restrictions.allowedIps' });
    return `${range[0].toString()}${ip.includes('/') ? `/${range[1]}` : ''}`;
  });
  const referrers = allowedReferrers.map((referrer) => {
    const origin = normaliseOrigin(referrer);
    if (!origin) throw badUserInput(`"${referrer}" is not an http(s) origin.`, { field: 'restrictions.allowedReferrers' });
    return origin;
  });
  for (const operation of allowedOperations) {
    if (!OPERATION_NAME.test(operation) || !rootFields.has(operation)) {
      throw badUserInput(`"${operation}" is not a Query or Mutation field.`, { field: 'restrictions.allowedOperations' });
    }
  }
  return { allowedIps: ips, allowedReferrers: referrers, allowedOperations };
}
