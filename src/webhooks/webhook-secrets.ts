// Signing secrets: generated here, shown once, stored only encrypted (AES-256-GCM under a
// key derived from KEYSCOPE_SECRET, bound to the webhook's id), and used to sign deliveries
// with the `standardwebhooks` library so that its own verifier accepts them.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Webhook as StandardWebhook } from 'standardwebhooks';

const SECRET_BYTES = 32;
const ENCRYPTION_VERSION = 'v1';

/** `whsec_` + base64 of 32 random bytes, the Standard Webhooks format. */
export function generateSigningSecret(): string {
  return `whsec_${randomBytes(SECRET_BYTES).toString('base64')}`;
}

function encryptionKey(serverSecret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', serverSecret, 'keyscope', 'webhook-signing-secret', 32));
}

/**
 * `v1.<iv>.<ciphertext>.<tag>` (base64url). The webhook id is the additional data, so a
 * ciphertext copied onto another webhook's row does not decrypt.
 */
export function encryptSigningSecret(serverSecret: string, webhookId: string, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', encryptionKey(serverSecret), iv);
  cipher.setAAD(Buffer.from(webhookId, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return [ENCRYPTION_VERSION, iv, ciphertext, cipher.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
}

export function decryptSigningSecret(serverSecret: string, webhookId: string, stored: string): string {
  const [version, iv, ciphertext, tag] = stored.split('.');
  if (version !== ENCRYPTION_VERSION || !iv || !ciphertext || !tag) throw new Error('unreadable webhook secret');
  const decipher = createDecipheriv('aes-256-gcm', encryptionKey(serverSecret), Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(webhookId, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
}

/**
 * The `webhook-signature` header: `v1,<base64>` for each secret, space-separated (the
 * specification's form for rotation overlaps), newest first.
 */
export function signDelivery(secrets: string[], messageId: string, at: Date, body: string): string {
  return secrets.map((secret) => new StandardWebhook(secret).sign(messageId, at, body)).join(' ');
}
