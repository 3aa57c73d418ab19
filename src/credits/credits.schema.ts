import { sessionAccountId } from '../auth/viewer.ts';
import { unauthenticated } from '../errors.ts';
import { builder } from '../schema/builder.ts';
import { connectionOf } from '../schema/pagination.ts';
import { EnvironmentEnum } from '../schema/scalars.ts';
import type { LedgerEntry } from './credits.queries.ts';
import { type CreditBalance, claimCredits, getCreditBalance, listLedger } from './credits.service.ts';

const CreditBalanceRef = builder.objectRef<CreditBalance>('CreditBalance').implement({
  description: "The account's credits. Credits exist in LIVE only: TEST keys see the LIVE balance but never draw on it.",
  fields: (t) => ({
    balance: t.exposeInt('balance', { description: 'The LIVE balance, always equal to the sum of the ledger.' }),
    environment: t.field({
      type: EnvironmentEnum,
      description: "The caller's environment: LIVE for sessions and LIVE keys, TEST for TEST keys (whose calls are not charged).",
      resolve: (b) => b.environment,
    }),
  }),
});

const LedgerKindEnum = builder.enumType('CreditLedgerKind', {
  description: 'Why the balance changed.',
  values: {
    GRANT: { value: 'grant', description: 'Granted by an operator (command line).' },
    CLAIM: { value: 'claim', description: 'A claim code redeemed with `claimCredits`.' },
    DEBIT: { value: 'debit', description: 'Paid for a metered operation.' },
    REFUND: { value: 'refund', description: 'Given back for a job that FAILED.' },
    CORRECTION: { value: 'correction', description: 'An operator correction, up or down.' },
  } as const,
});

const LedgerEntryRef = builder.objectRef<LedgerEntry>('CreditLedgerEntry').implement({
  description: 'One change of the balance. The ledger is append-only: corrections are new entries.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Opaque id (`cle_…`).' }),
    amount: t.exposeInt('amount', { description: 'Credits added (positive) or taken (negative).' }),
    balanceAfter: t.exposeInt('balanceAfter', { description: 'The balance right after this entry.' }),
    kind: t.field({ type: LedgerKindEnum, description: 'Why.', resolve: (e) => e.kind }),
    reason: t.exposeString('reason', { description: 'What it paid for, or the operator’s note.' }),
    actor: t.exposeString('actor', { description: 'Who: `operator`, `system`, `session:<id>` or `api_key:<id>`.' }),
    keyId: t.exposeID('keyId', { nullable: true, description: 'The API key that paid, for debits and their refunds.' }),
    jobId: t.exposeID('jobId', { nullable: true, description: 'The job paid for or refunded.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When.' }),
  }),
});

const LedgerConnection = connectionOf<LedgerEntry>('CreditLedgerEntry', LedgerEntryRef, 'A page of ledger entries, newest first.');

const ClaimCreditsInput = builder.inputType('ClaimCreditsInput', {
  description: 'A claim code from an operator.',
  fields: (t) => ({ code: t.string({ required: true, description: 'The code (`ksc_…`).' }) }),
});

const ClaimCreditsPayload = builder.objectRef<{ balance: number }>('ClaimCreditsPayload').implement({
  description: 'The balance after the claim.',
  fields: (t) => ({ balance: t.exposeInt('balance', { description: 'The LIVE balance now.' }) }),
});

builder.queryFields((t) => ({
  credits: t.field({
    type: CreditBalanceRef,
    nullable: true,
    description: "The account's credit balance.",
    resolve: (_root, _args, ctx) => {
      const viewer = ctx.state.viewer;
      if (viewer.kind === 'anonymous') throw unauthenticated();
      return getCreditBalance(ctx.app, viewer.accountId, viewer.kind === 'apiKey' ? viewer.key.environment : 'LIVE');
    },
  }),
  creditLedger: t.field({
    type: LedgerConnection,
    nullable: true,
    description: "The account's credit ledger, newest first.",
    args: {
      first: t.arg.int({ description: 'Page size, 1 to 100 (default 20).' }),
      after: t.arg.string({ description: 'Cursor from `pageInfo.endCursor`.' }),
    },
    resolve: (_root, args, ctx) => listLedger(ctx.app, sessionAccountId(ctx), args),
  }),
}));

builder.mutationFields((t) => ({
  claimCredits: t.field({
    type: ClaimCreditsPayload,
    nullable: true,
    description:
      'Redeems a claim code: adds its credits once per account. BAD_USER_INPUT when the code is unknown, expired or used up; CONFLICT when this account already claimed it.',
    args: { input: t.arg({ type: ClaimCreditsInput, required: true, description: 'The code.' }) },
    resolve: (_root, { input }, ctx) => claimCredits(ctx.app, ctx.state, sessionAccountId(ctx), input.code),
  }),
}));
