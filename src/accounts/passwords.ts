// argon2id (the library's default algorithm) with OWASP's minimum parameters (19 MiB, t=2, p=1).
import { hash, verify } from '@node-rs/argon2';
import { badUserInput } from '../errors.ts';

const OPTIONS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };
export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 256;

export function checkPasswordRules(password: string): void {
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH) {
    throw badUserInput(`The password must be at least ${MIN_PASSWORD_LENGTH} characters.`, { field: 'password' });
  }
  if (length > MAX_PASSWORD_LENGTH) {
    throw badUserInput(`The password must be at most ${MAX_PASSWORD_LENGTH} characters.`, { field: 'password' });
  }
}

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

// Verified against when the email is unknown, so that both answers take the same time.
let dummyHash: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hash('keyscope-dummy-password', OPTIONS);
  await verifyPassword(await dummyHash, password);
}
