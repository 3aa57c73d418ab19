import { createHash, createHmac, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Uniform base62 from the CSPRNG (rejection sampling, no modulo bias). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

export function toBase62(value: number, width: number): string {
  let out = '';
  let n = value >>> 0;
  while (n > 0) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out.padStart(width, '0');
}

// Ids are not secrets, so their random characters come from a pool of CSPRNG bytes filled
// 4 KiB at a time: one call into the CSPRNG per ~400 ids instead of one per id (a tenth of
// the job worker's CPU went there). Every byte is used once. Secrets (randomBase62,
// randomToken) still draw their bytes directly.
const ID_POOL = Buffer.alloc(4096);
let idPoolOffset = ID_POOL.length;

function randomIdChars(length: number): string {
  let out = '';
  while (out.length < length) {
    if (idPoolOffset >= ID_POOL.length) {
      randomFillSync(ID_POOL);
      idPoolOffset = 0;
    }
    const byte = ID_POOL[idPoolOffset++] ?? 255;
    if (byte < 248) out += BASE62[byte % 62];
  }
  return out;
}

let lastMs = -1;
let sequence = 0;

/**
 * Prefixed, opaque, time-ordered ids (`key_…`, `job_…`): the first 9 characters are the
 * creation time in base36 and the next 3 a per-process sequence within that millisecond, so
 * ordering by id is ordering by creation (across instances, to the millisecond) and an id
 * serves as a cursor. 9 random base62 characters follow.
 */
export function newId(prefix: string, now = Date.now()): string {
  sequence = now === lastMs ? sequence + 1 : 0;
  lastMs = now;
  return `${prefix}_${now.toString(36).padStart(9, '0')}${sequence.toString(36).padStart(3, '0')}${randomIdChars(9)}`;
}

/** A token with at least `bytes` bytes of entropy, URL-safe. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function hmacSha256(secret: string, value: string): string {
  return createHmac('sha256', secret).update(value).digest('hex');
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
