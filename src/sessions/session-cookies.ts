// The two dashboard cookies. Outside development they are `Secure` and `__Host-` prefixed
// (bound to this exact host, path /). SameSite=Lax keeps them off cross-site subrequests;
// mutations additionally need the X-Keyscope-CSRF header.
import { parse, serialize } from 'cookie';

export const ACCESS_TTL_MS = 15 * 60 * 1000;
export const REFRESH_TTL_MS = 30 * 24 * 60 * 60 * 1000;

export interface CookieNames {
  access: string;
  refresh: string;
}

export function cookieNames(secure: boolean): CookieNames {
  return secure ? { access: '__Host-ks_access', refresh: '__Host-ks_refresh' } : { access: 'ks_access', refresh: 'ks_refresh' };
}

export function readSessionCookies(header: string | null, names: CookieNames): { access?: string; refresh?: string } {
  if (!header) return {};
  const cookies = parse(header);
  return { access: cookies[names.access], refresh: cookies[names.refresh] };
}

export function sessionCookieHeaders(
  names: CookieNames,
  secure: boolean,
  values: { access: string; refresh: string } | null,
): string[] {
  const base = { httpOnly: true, sameSite: 'lax' as const, secure, path: '/' };
  if (!values) {
    return [serialize(names.access, '', { ...base, maxAge: 0 }), serialize(names.refresh, '', { ...base, maxAge: 0 })];
  }
  return [
    serialize(names.access, values.access, { ...base, maxAge: ACCESS_TTL_MS / 1000 }),
    serialize(names.refresh, values.refresh, { ...base, maxAge: REFRESH_TTL_MS / 1000 }),
  ];
}
