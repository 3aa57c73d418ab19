import { sessionAccountId } from '../auth/viewer.ts';
import { builder } from '../schema/builder.ts';
import { type Settings, getSettings, updateSettings } from './settings.service.ts';

const SettingsRef = builder.objectRef<Settings>('Settings').implement({
  description: "The account's settings.",
  fields: (t) => ({
    lowBalanceThreshold: t.exposeInt('lowBalanceThreshold', {
      nullable: true,
      description:
        'When a debit takes the LIVE balance from above this number to at or below it, `credits.low` is sent to every LIVE key webhook subscribed to it. Null: never.',
    }),
  }),
});

const UpdateSettingsInput = builder.inputType('UpdateSettingsInput', {
  description: 'Settings to change. Omitted fields stay as they are.',
  fields: (t) => ({
    lowBalanceThreshold: t.int({ description: 'A whole number of credits ≥ 0, or null to turn the alert off.' }),
  }),
});

const SettingsPayload = builder.objectRef<{ settings: Settings }>('SettingsPayload').implement({
  description: 'The settings after the change.',
  fields: (t) => ({ settings: t.field({ type: SettingsRef, description: 'The settings.', resolve: (p) => p.settings }) }),
});

builder.queryFields((t) => ({
  settings: t.field({
    type: SettingsRef,
    nullable: true,
    description: "The account's settings.",
    resolve: (_root, _args, ctx) => getSettings(ctx.app, sessionAccountId(ctx)),
  }),
}));

builder.mutationFields((t) => ({
  updateSettings: t.field({
    type: SettingsPayload,
    nullable: true,
    description: "Changes the account's settings.",
    args: { input: t.arg({ type: UpdateSettingsInput, required: true, description: 'The changes.' }) },
    resolve: async (_root, { input }, ctx) => ({ settings: await updateSettings(ctx.app, ctx.state, sessionAccountId(ctx), input) }),
  }),
}));
