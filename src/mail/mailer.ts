// Outgoing mail through nodemailer: SMTP when SMTP_URL is set, otherwise each message is
// written as an .eml file into MAIL_DIR (development, tests, air-gapped installs).
// nodemailer (some 35 modules) is loaded with the first message rather than at start-up,
// which has a 2 s budget to its first /health and sends nothing.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { newId } from '../ids.ts';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  send(message: MailMessage): Promise<void>;
}

const FROM = 'Keyscope <no-reply@keyscope.local>';

/** `create` runs on the first call; every call gets its one promise. */
function createdOnFirstUse<T>(create: () => Promise<T>): () => Promise<T> {
  let created: Promise<T> | undefined;
  return () => {
    created ??= create();
    return created;
  };
}

export function createMailer(options: { smtpUrl: string | undefined; mailDir: string }): Mailer {
  const { smtpUrl, mailDir } = options;
  if (smtpUrl) {
    const transport = createdOnFirstUse(async () => (await import('nodemailer')).default.createTransport(smtpUrl));
    return {
      async send(message) {
        await (await transport()).sendMail({ from: FROM, ...message });
      },
    };
  }
  const transport = createdOnFirstUse(async () =>
    (await import('nodemailer')).default.createTransport({ streamTransport: true, buffer: true, newline: 'unix' }),
  );
  return {
    async send(message) {
      const info = await (await transport()).sendMail({ from: FROM, ...message });
      mkdirSync(mailDir, { recursive: true });
      const file = path.join(mailDir, `${newId('mail')}.eml`);
      writeFileSync(file, info.message as Buffer, { mode: 0o600 });
    },
  };
}
