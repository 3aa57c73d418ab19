// Operator commands for credits, registered in src/cli/main.ts:
//   credits grant --email <email> --amount <n> [--reason <text>]
//   credits correct --email <email> --amount=<±n> --reason <text>
//   credits check
//   claim-code create --amount <n> [--max-redemptions <k>] [--expires <ISO date | days>]
import { parseArgs } from 'node:util';
import type { Db } from '../db/database.ts';
import { systemClock } from '../deps.ts';
import { checkLedger, createClaimCode, grantCredits } from './credits.service.ts';

type Out = (line: string) => void;

const DAY_MS = 24 * 60 * 60 * 1000;

function wholeNumber(value: string | undefined, option: string): number {
  if (value === undefined) throw new Error(`--${option} is required`);
  if (!/^-?\d+$/.test(value.trim())) throw new Error(`--${option} must be a whole number, got "${value}"`);
  return Number(value);
}

/** `--expires` is an ISO date/time or a number of days from now. */
export function parseExpiry(value: string | undefined, now: number): number | null {
  if (value === undefined) return null;
  if (/^\d+$/.test(value.trim())) return now + Number(value) * DAY_MS;
  const at = Date.parse(value);
  if (Number.isNaN(at)) throw new Error(`--expires must be an ISO date (2026-12-31 or 2026-12-31T12:00:00Z) or a number of days, got "${value}"`);
  return at;
}

function options<T extends Record<string, { type: 'string' | 'boolean' }>>(args: string[], spec: T) {
  return parseArgs({ args, options: spec, allowPositionals: true, strict: true }).values;
}

async function grant(db: Db, args: string[], out: Out, kind: 'grant' | 'correction'): Promise<void> {
  const values = options(args, { email: { type: 'string' }, amount: { type: 'string' }, reason: { type: 'string' } });
  if (!values.email) throw new Error('--email is required');
  const result = await grantCredits({ db, clock: systemClock }, { email: values.email, amount: wholeNumber(values.amount, 'amount'), reason: values.reason ?? null, kind });
  out(`${kind === 'grant' ? 'granted' : 'corrected'} ${wholeNumber(values.amount, 'amount')} credits to ${values.email} (${result.accountId}); balance now ${result.balance}`);
}

export const creditCommands = {
  'credits grant': (db: Db, args: string[], out: Out) => grant(db, args, out, 'grant'),
  'credits correct': (db: Db, args: string[], out: Out) => grant(db, args, out, 'correction'),

  async 'credits check'(db: Db, _args: string[], out: Out): Promise<void> {
    const check = await checkLedger({ db });
    for (const m of check.mismatches) out(`MISMATCH account ${m.accountId}: balance ${m.balance}, ledger sum ${m.ledgerSum}`);
    for (const m of check.claimCodeMismatches) {
      out(`MISMATCH claim code ${m.claimCodeId}: counter ${m.redemptions}, redemptions ${m.redeemed}, limit ${m.maxRedemptions}`);
    }
    if (!check.ok) throw new Error('credits check failed');
    out(`ok: ${check.accounts} accounts, every balance equals the sum of its ledger`);
  },

  async 'claim-code create'(db: Db, args: string[], out: Out): Promise<void> {
    const values = options(args, { amount: { type: 'string' }, 'max-redemptions': { type: 'string' }, expires: { type: 'string' } });
    const now = systemClock.now();
    const created = await createClaimCode(
      { db, clock: systemClock },
      {
        amount: wholeNumber(values.amount, 'amount'),
        maxRedemptions: values['max-redemptions'] === undefined ? 1 : wholeNumber(values['max-redemptions'], 'max-redemptions'),
        expiresAt: parseExpiry(values.expires, now),
      },
    );
    const expiry = created.expiresAt === null ? 'never expires' : `expires ${new Date(created.expiresAt).toISOString()}`;
    out(`claim code ${created.id}: ${created.amount} credits, up to ${created.maxRedemptions} account(s), ${expiry}`);
    out('the code is shown only now; Keyscope keeps only its hash:');
    out(created.code);
  },
};
