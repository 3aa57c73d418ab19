// The only module that reads process.env. Everything is validated once, at start-up,
// so a typo in a deployment fails loudly instead of half-working.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type JobCosts = { STAGE: number; ENHANCE: number; PLACE_PRODUCTS: number };

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  /** Where to listen; undefined: every interface (Node's default). */
  host: string | undefined;
  /** `file:<path>` (SQLite) or `postgres://…` */
  databaseUrl: string;
  dataDir: string;
  /** Keys API-key hashes, session signatures and webhook-secret encryption. Never stored in the database. */
  serverSecret: string;
  mailDir: string;
  smtpUrl: string | undefined;
  /** Public URL of the dashboard, used in links inside emails. */
  publicUrl: string;
  allowPrivateWebhooks: boolean;
  corsOrigins: string[];
  trustedProxies: string[];
  defaultRateLimit: { requests: number; windowSeconds: number };
  /** Attempts per client IP at the public account flows (sign-in, registration, tokens, emails). */
  authIpLimit: { requests: number; windowSeconds: number };
  jobCosts: JobCosts;
  /** Days before `expiresAt` that `key.expiring` fires. */
  keyExpiringDays: number;
  /** Cookies get `Secure` and the `__Host-` prefix unless this is false. */
  secureCookies: boolean;
  logRequests: boolean;
  /** Introspection and GraphiQL for anonymous callers. */
  exposeSchemaToAnonymous: boolean;
  /** LIVE API keys may run only registered (persisted) operations. */
  persistedOnlyForLive: boolean;
  /** Apply pending migrations when the server starts (always on SQLite). */
  migrateOnStart: boolean;
}

export interface ConfigVariable {
  name: string;
  default: string;
  description: string;
}

/** The configuration reference: README's table is generated from this list. */
export const configVariables: ConfigVariable[] = [
  { name: 'NODE_ENV', default: 'development', description: '`development`, `production` or `test`. Production hides introspection, GraphiQL and suggestions from anonymous callers, requires `KEYSCOPE_SECRET` and refuses `KEYSCOPE_ALLOW_PRIVATE_WEBHOOKS`.' },
  { name: 'PORT', default: '4000', description: 'HTTP port.' },
  { name: 'HOST', default: '(every interface)', description: 'Address to listen on, e.g. `127.0.0.1` behind a proxy on the same machine.' },
  { name: 'DATABASE_URL', default: 'file:./data/keyscope.db', description: '`file:<path>` for the embedded SQLite database, `postgres://…` for PostgreSQL (several instances).' },
  { name: 'KEYSCOPE_DATA_DIR', default: './data', description: 'Where the SQLite database, the development secret and mail files live.' },
  { name: 'KEYSCOPE_SECRET', default: '(generated into the data dir outside production)', description: 'At least 32 characters. Keys the HMAC of API keys and tokens and encrypts webhook secrets. Keep it out of the database and its backups; changing it invalidates every key.' },
  { name: 'MAIL_DIR', default: './data/mail', description: 'Where outgoing mail is written as `.eml` files when `SMTP_URL` is unset.' },
  { name: 'SMTP_URL', default: '(unset)', description: 'nodemailer SMTP URL, e.g. `smtps://user:pass@smtp.example.com`.' },
  { name: 'KEYSCOPE_PUBLIC_URL', default: 'http://localhost:4000', description: 'Base URL used in links inside emails.' },
  { name: 'KEYSCOPE_ALLOW_PRIVATE_WEBHOOKS', default: '0', description: '`1` lets webhooks target loopback and private addresses. Development only.' },
  { name: 'KEYSCOPE_CORS_ORIGINS', default: '(none)', description: 'Comma-separated origins that get CORS with credentials. No origin is reflected otherwise.' },
  { name: 'KEYSCOPE_TRUSTED_PROXIES', default: '(none)', description: 'Comma-separated addresses or CIDR ranges; only from these peers is `X-Forwarded-For` believed.' },
  { name: 'KEYSCOPE_DEFAULT_RATE_LIMIT', default: '100/1s', description: 'Requests per window for keys without their own `rateLimit`, as `<requests>/<seconds>s`.' },
  { name: 'KEYSCOPE_AUTH_IP_LIMIT', default: '100/900s', description: 'Attempts per client IP (IPv6: per /64) at sign-in, registration, email verification and password reset, as `<attempts>/<seconds>s`. Failed sign-ins and token redemptions count; so do registrations and emails asked for.' },
  { name: 'KEYSCOPE_JOB_COSTS', default: 'STAGE=1,ENHANCE=1,PLACE_PRODUCTS=2', description: 'Credits each job kind costs.' },
  { name: 'KEYSCOPE_KEY_EXPIRING_DAYS', default: '7', description: 'Days before a key expires that `key.expiring` fires.' },
  { name: 'KEYSCOPE_SECURE_COOKIES', default: '1 in production, 0 otherwise', description: '`Secure` and `__Host-` prefixed session cookies.' },
  { name: 'KEYSCOPE_LOG_REQUESTS', default: '1 (0 under test)', description: 'One JSON line per request on stdout.' },
  { name: 'KEYSCOPE_MIGRATE_ON_START', default: '0 (SQLite always migrates)', description: '`1`: a PostgreSQL server applies pending migrations at start-up (safe from several instances at once: they take a lock). Otherwise run `npm run keyscope -- migrate` before starting the new version.' },
  { name: 'KEYSCOPE_PERSISTED_ONLY_FOR_LIVE', default: '0', description: '`1`: LIVE API keys may run only operations registered with `npm run keyscope -- persisted-operations register <file.json>`, sent by hash. TEST keys, sessions (GraphiQL) and anonymous callers may still send any query.' },
];

export class ConfigError extends Error {}

function parseRateLimit(value: string, name = 'KEYSCOPE_DEFAULT_RATE_LIMIT'): { requests: number; windowSeconds: number } {
  const match = /^(\d+)\/(\d+)s$/.exec(value.trim());
  if (!match) throw new ConfigError(`${name} must look like "100/1s", got "${value}"`);
  const requests = Number(match[1]);
  const windowSeconds = Number(match[2]);
  if (requests < 1 || windowSeconds < 1) throw new ConfigError(`${name} needs positive numbers`);
  return { requests, windowSeconds };
}

function parseJobCosts(value: string): JobCosts {
  const costs: JobCosts = { STAGE: 1, ENHANCE: 1, PLACE_PRODUCTS: 2 };
  for (const part of value.split(',').filter(Boolean)) {
    const [kind, amount] = part.split('=');
    if (!kind || !(kind in costs) || amount === undefined || !/^\d+$/.test(amount)) {
      throw new ConfigError(`KEYSCOPE_JOB_COSTS: cannot read "${part}"`);
    }
    costs[kind as keyof JobCosts] = Number(amount);
  }
  return costs;
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function flag(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  return value === '1' || value.toLowerCase() === 'true';
}

/** Outside production a secret is generated once and kept (mode 0600) in the data directory. */
function developmentSecret(dataDir: string): string {
  const file = path.join(dataDir, 'secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, secret, { mode: 0o600 });
  chmodSync(file, 0o600);
  return secret;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const nodeEnv = env.NODE_ENV === 'production' || env.NODE_ENV === 'test' ? env.NODE_ENV : 'development';
  const production = nodeEnv === 'production';
  const dataDir = path.resolve(env.KEYSCOPE_DATA_DIR ?? './data');
  const databaseUrl = env.DATABASE_URL?.trim() || `file:${path.join(dataDir, 'keyscope.db')}`;
  if (!databaseUrl.startsWith('file:') && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must start with file: or postgres://');
  }
  let serverSecret = env.KEYSCOPE_SECRET;
  if (!serverSecret) {
    if (production) throw new ConfigError('KEYSCOPE_SECRET is required in production');
    serverSecret = developmentSecret(dataDir);
  }
  if (serverSecret.length < 32) throw new ConfigError('KEYSCOPE_SECRET must be at least 32 characters');
  const allowPrivateWebhooks = flag(env.KEYSCOPE_ALLOW_PRIVATE_WEBHOOKS, false);
  if (allowPrivateWebhooks && production) {
    throw new ConfigError('KEYSCOPE_ALLOW_PRIVATE_WEBHOOKS is for development only');
  }
  const port = Number(env.PORT ?? 4000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError('PORT must be a port number');
  return {
    env: nodeEnv,
    port,
    host: env.HOST?.trim() || undefined,
    databaseUrl,
    dataDir,
    serverSecret,
    mailDir: path.resolve(env.MAIL_DIR ?? path.join(dataDir, 'mail')),
    smtpUrl: env.SMTP_URL || undefined,
    publicUrl: (env.KEYSCOPE_PUBLIC_URL ?? `http://localhost:${port}`).replace(/\/$/, ''),
    allowPrivateWebhooks,
    corsOrigins: list(env.KEYSCOPE_CORS_ORIGINS),
    trustedProxies: list(env.KEYSCOPE_TRUSTED_PROXIES),
    defaultRateLimit: parseRateLimit(env.KEYSCOPE_DEFAULT_RATE_LIMIT ?? '100/1s'),
    authIpLimit: parseRateLimit(env.KEYSCOPE_AUTH_IP_LIMIT ?? '100/900s', 'KEYSCOPE_AUTH_IP_LIMIT'),
    jobCosts: parseJobCosts(env.KEYSCOPE_JOB_COSTS ?? ''),
    keyExpiringDays: Number(env.KEYSCOPE_KEY_EXPIRING_DAYS ?? 7),
    secureCookies: flag(env.KEYSCOPE_SECURE_COOKIES, production),
    logRequests: flag(env.KEYSCOPE_LOG_REQUESTS, nodeEnv !== 'test'),
    exposeSchemaToAnonymous: !production,
    persistedOnlyForLive: flag(env.KEYSCOPE_PERSISTED_ONLY_FOR_LIVE, false),
    migrateOnStart: flag(env.KEYSCOPE_MIGRATE_ON_START, false),
  };
}
