// Seeding through the public API, before anything is measured: accounts (register, then
// the emailed verification link, read from MAIL_DIR), API keys (createApiKey with the
// session cookies) and credits (the operator command line). argon2 runs only here.
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

export const BENCH_PASSWORD = 'benchmark password, not a secret';

export interface Session {
  email: string;
  accountId: string;
  cookies: Map<string, string>;
}

export interface GqlAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: the benchmark reads whatever the server sent
  body: any;
}

export async function gql(
  baseUrl: string,
  query: string,
  options: { variables?: Record<string, unknown>; key?: string; session?: Session } = {},
): Promise<GqlAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  if (options.session) {
    headers.cookie = [...options.session.cookies].map(([n, v]) => `${n}=${v}`).join('; ');
    headers['x-keyscope-csrf'] = '1';
  }
  const response = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables: options.variables }),
    signal: AbortSignal.timeout(15_000),
  });
  if (options.session) {
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(';')[0] ?? '';
      const eq = pair.indexOf('=');
      if (eq > 0) options.session.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

function must<T>(answer: GqlAnswer, pick: (body: GqlAnswer['body']) => T | undefined, what: string): T {
  const value = pick(answer.body);
  if (value === undefined || value === null) throw new Error(`${what} failed: ${answer.status} ${JSON.stringify(answer.body).slice(0, 400)}`);
  return value;
}

/** The `token=` of the newest mail to `email` (quoted-printable aware). */
function mailedToken(mailDir: string, email: string): string {
  const files = readdirSync(mailDir)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => path.join(mailDir, f))
    .sort()
    .reverse();
  for (const file of files) {
    const text = readFileSync(file, 'utf8').replace(/=\r?\n/g, '').replace(/=3D/gi, '=');
    if (!text.includes(email)) continue;
    const token = /token=([A-Za-z0-9_-]+)/.exec(text)?.[1];
    if (token) return token;
  }
  throw new Error(`no verification mail for ${email} in ${mailDir}`);
}

export async function registerVerified(baseUrl: string, mailDir: string, label: string): Promise<Session> {
  const email = `bench-${label}-${Date.now().toString(36)}@example.com`;
  const session: Session = { email, accountId: '', cookies: new Map() };
  const registered = await gql(baseUrl, 'mutation($input: CredentialsInput!) { register(input: $input) { account { id } } }', {
    variables: { input: { email, password: BENCH_PASSWORD } },
    session,
  });
  session.accountId = must(registered, (b) => b?.data?.register?.account?.id, 'register');
  const verified = await gql(baseUrl, 'mutation($t: String!) { verifyEmail(input: { token: $t }) { account { emailVerified } } }', {
    variables: { t: mailedToken(mailDir, email) },
  });
  must(verified, (b) => (b?.data?.verifyEmail?.account?.emailVerified ? true : undefined), 'verifyEmail');
  return session;
}

export async function createKeys(
  baseUrl: string,
  session: Session,
  count: number,
  input: { scope: 'READ' | 'WRITE' | 'READ_WRITE'; environment: 'LIVE' | 'TEST' },
): Promise<string[]> {
  const secrets: string[] = [];
  let next = 0;
  const one = async (): Promise<void> => {
    while (next < count) {
      const n = next++;
      const answer = await gql(baseUrl, 'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }', {
        variables: { input: { name: `bench ${input.scope} ${n}`, ...input } },
        session,
      });
      secrets.push(must(answer, (b) => b?.data?.createApiKey?.secret, 'createApiKey'));
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, count) }, one));
  return secrets;
}

/** `npm run keyscope -- credits grant` with the server's environment; false when the command does not exist yet. */
export function grantCredits(env: Record<string, string | undefined>, email: string, amount: number): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'credits', 'grant', '--email', email, '--amount', String(amount)],
      { env: { ...process.env, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => resolve({ ok: !error, output: `${stdout}${stderr}`.trim().slice(0, 400) }),
    );
  });
}
