// Outgoing mail through nodemailer: SMTP when SMTP_URL is set, otherwise each message is
// written as an .eml file into MAIL_DIR (development, tests, air-gapped installs).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
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

export function createMailer(options: { smtpUrl: string | undefined; mailDir: string }): Mailer {
  if (options.smtpUrl) {
    const transport = nodemailer.createTransport(options.smtpUrl);
    return {
      async send(message) {
        await transport.sendMail({ from: FROM, ...message });
      },
    };
  }
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async send(message) {
      const info = await transport.sendMail({ from: FROM, ...message });
      mkdirSync(options.mailDir, { recursive: true });
      const file = path.join(options.mailDir, `${newId('mail')}.eml`);
      writeFileSync(file, info.message as Buffer, { mode: 0o600 });
    },
  };
}
