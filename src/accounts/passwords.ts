// argon2id (the library's default algorithm) with OWASP's minimum parameters (19 MiB, t=2, p=1).
// The native binding is loaded with the first password, not at start-up (the 2 s budget to the
// first /health): API-key traffic never needs it.
import { badUserInput } from '../errors.ts';

let argon2: Promise<typeof import('@node-rs/argon2')> | undefined;
const loadArgon2 = () => {
  argon2 ??= import('@node-rs/argon2');
  return argon2;
};

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

export async function hashPassword(password: string): Promise<string> {
  return (await loadArgon2()).hash(password, OPTIONS);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  const { verify } = await loadArgon2();
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

// Verified against when the email is unknown, so that both answers take the same time.
let dummyHash: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword('keyscope-dummy-password');
  await verifyPassword(await dummyHash, password);
}
