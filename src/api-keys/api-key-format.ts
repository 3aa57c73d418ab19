// `sk_live_` / `sk_test_` + 32 base62 characters (~190 bits) + a 6-character base62 CRC32
// of everything before it, the shape GitHub's tokens use: a mistyped or truncated key is
// refused without a database look-up, and secret scanners can match the pattern.
import { crc32 } from 'node:zlib';
import type { Environment } from '../db/database.ts';
import { randomBase62, toBase62 } from '../ids.ts';

const BODY_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const KEY_PATTERN = /^sk_(live|test)_([0-9A-Za-z]{38})$/;
export const DISPLAY_PREFIX_LENGTH = 'sk_live_'.length + 4;

function checksum(text: string): string {
  return toBase62(crc32(text), CHECKSUM_LENGTH);
}

export function generateApiKey(environment: Environment): string {
  const head = `sk_${environment === 'LIVE' ? 'live' : 'test'}_${randomBase62(BODY_LENGTH)}`;
  return head + checksum(head);
}

export function displayPrefix(key: string): string {
  return key.slice(0, DISPLAY_PREFIX_LENGTH);
}

/** The key's environment when its shape and checksum are right; null otherwise. */
export function parseApiKey(key: string): Environment | null {
  const match = KEY_PATTERN.exec(key);
  if (!match) return null;
  const head = key.slice(0, key.length - CHECKSUM_LENGTH);
  if (checksum(head) !== key.slice(-CHECKSUM_LENGTH)) return null;
  return match[1] === 'live' ? 'LIVE' : 'TEST';
}
