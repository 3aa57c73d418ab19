// The client address: the connecting peer, unless that peer is a trusted proxy, in which
// case the right-most X-Forwarded-For entry that is not itself a trusted proxy.
import { compileRanges, ipInRanges, normaliseIp } from '../api-keys/restrictions.ts';

export type ClientIpResolver = (peer: string, forwardedFor: string | null) => string;

export function clientIpResolver(trustedProxies: string[]): ClientIpResolver {
  const trusted = compileRanges(trustedProxies);
  // Parsing an address costs more than the rest of this function; peers repeat (keep-alive
  // connections, a few proxies), so their canonical forms are kept, a bounded number.
  const known = new Map<string, string>();
  const canonical = (ip: string) => {
    let form = known.get(ip);
    if (form === undefined) {
      form = normaliseIp(ip)?.toString() ?? ip;
      if (known.size >= 4096) known.clear();
      known.set(ip, form);
    }
    return form;
  };
  return (peer, forwardedFor) => {
    if (trusted.length === 0 || !forwardedFor || !ipInRanges(peer, trusted)) return canonical(peer);
    const hops = forwardedFor.split(',').map((hop) => hop.trim()).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i] as string;
      if (!normaliseIp(hop)) return canonical(peer);
      if (!ipInRanges(hop, trusted)) return canonical(hop);
    }
    return canonical(hops[0] ?? peer);
  };
}
