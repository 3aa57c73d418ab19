import { ApiKeyRef } from '../api-keys/api-keys.schema.ts';
import { sessionAccountId } from '../auth/viewer.ts';
import type { AttemptError } from './webhook-sender.ts';
import { builder } from '../schema/builder.ts';
import { connectionOf } from '../schema/pagination.ts';
import { EnvironmentEnum } from '../schema/scalars.ts';
import { WEBHOOK_EVENTS } from './webhook-outbox.ts';
import type { Webhook, WebhookAttempt, WebhookDelivery } from './webhooks.queries.ts';
import {
  MAX_SECRET_OVERLAP_SECONDS,
  deleteWebhook,
  getWebhookForKey,
  listWebhookDeliveries,
  rotateWebhookSecret,
  sendTestWebhook,
  setWebhook,
} from './webhooks.service.ts';

const EVENT_LIST = WEBHOOK_EVENTS.map((e) => `\`${e}\``).join(', ');

export const WebhookRef = builder.objectRef<Webhook>('Webhook').implement({
  description: "An API key's webhook: where Keyscope POSTs the events it subscribes to, signed per the Standard Webhooks specification.",
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Opaque id (`whk_…`).' }),
    keyId: t.exposeID('keyId', { description: 'The API key this webhook belongs to.' }),
    url: t.exposeString('url', { description: 'Where deliveries are POSTed (normalised).' }),
    events: t.exposeStringList('events', { description: `The subscribed event types, a subset of ${EVENT_LIST}.` }),
    enabled: t.exposeBoolean('enabled', { description: 'Whether events are delivered. Keyscope disables a webhook whose receiver answers 410 or fails for the whole retry schedule.' }),
    disabledReason: t.exposeString('disabledReason', {
      nullable: true,
      description: 'Why Keyscope disabled the webhook; null while enabled or when its owner disabled it. Cleared by `setWebhook` with `enabled: true`.',
    }),
    previousSecretExpiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'Until this time deliveries also carry a signature made with the secret before the last rotation; null when there is no overlap.',
      resolve: (w, _args, ctx) => (w.previousSecretExpiresAt && w.previousSecretExpiresAt.getTime() > ctx.app.clock.now() ? w.previousSecretExpiresAt : null),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'Creation time.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'Last change of URL, events, state or secret.' }),
  }),
});

builder.objectField(ApiKeyRef, 'webhook', (t) =>
  t.field({
    type: WebhookRef,
    nullable: true,
    description: "The key's webhook, if it has one.",
    resolve: (key, _args, ctx) => getWebhookForKey(ctx.app, key.accountId, key.id),
  }),
);

const DeliveryStatusEnum = builder.enumType('WebhookDeliveryStatus', {
  description: 'Where a delivery stands.',
  values: {
    PENDING: { description: 'Waiting for its next attempt (`nextAttemptAt`).' },
    SUCCEEDED: { description: 'The receiver answered 2xx.' },
    FAILED: { description: 'Given up; `failureReason` says why.' },
  } as const,
});

const FailureReasonEnum = builder.enumType('WebhookFailureReason', {
  description: 'Why a delivery was given up.',
  values: {
    RETRIES_EXHAUSTED: { description: 'No 2xx answer during the whole retry schedule (about three days).' },
    GONE: { description: 'The receiver answered 410 Gone; the webhook was disabled at once.' },
    WEBHOOK_DISABLED: { description: 'The webhook was disabled before the delivery could be made.' },
    WEBHOOK_DELETED: { description: 'The webhook was deleted before the delivery could be made.' },
  } as const,
});

const AttemptErrorEnum = builder.enumType('WebhookAttemptError', {
  description: 'What kind of failure an attempt met.',
  values: {
    HTTP_STATUS: { description: 'The receiver answered with a status other than 2xx or 3xx.' },
    REDIRECT: { description: 'The receiver answered 3xx; redirects are never followed.' },
    TIMEOUT: { description: 'No complete answer within 10 seconds.' },
    DNS: { description: 'The host name did not resolve.' },
    CONNECTION: { description: 'The connection was refused, reset or closed.' },
    TLS: { description: 'The TLS handshake or certificate check failed.' },
    ADDRESS_REFUSED: { description: 'The URL or the address connected to is not public (SSRF protection); nothing was sent.' },
    SIGNING_FAILED: { description: 'The signing secret could not be read (was KEYSCOPE_SECRET changed?); nothing was sent. Rotate the secret.' },
  } as const,
});

type FailureReason = 'RETRIES_EXHAUSTED' | 'GONE' | 'WEBHOOK_DISABLED' | 'WEBHOOK_DELETED';

const WebhookAttemptRef = builder.objectRef<WebhookAttempt>('WebhookAttempt').implement({
  description: 'One try at delivering an event. Only a short, sanitised excerpt of the answer is kept.',
  fields: (t) => ({
    attempt: t.exposeInt('attempt', { description: '1 for the first attempt, then 2, 3, …' }),
    statusCode: t.exposeInt('statusCode', { nullable: true, description: "The receiver's HTTP status; null when no answer came." }),
    durationMs: t.exposeInt('durationMs', { description: 'Milliseconds from connecting to the end of the answer (or the failure).' }),
    errorClass: t.field({
      type: AttemptErrorEnum,
      nullable: true,
      description: 'What went wrong; null for a 2xx answer.',
      resolve: (a) => a.errorClass as AttemptError | null,
    }),
    responseExcerpt: t.exposeString('responseExcerpt', {
      nullable: true,
      description: 'At most 200 printable characters of the answer body, control characters removed.',
    }),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', nullable: true, description: 'When the next attempt was scheduled after this one; null if none.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the attempt was made.' }),
  }),
});

const WebhookDeliveryRef = builder.objectRef<WebhookDelivery>('WebhookDelivery').implement({
  description: 'One event sent (or to be sent) to a webhook, with every attempt.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Opaque id (`whd_…`).' }),
    messageId: t.exposeString('messageId', { description: 'The `webhook-id` header: the same on every attempt, so receivers can discard duplicates.' }),
    eventType: t.exposeString('eventType', { description: `The event: one of ${EVENT_LIST}, or \`webhook.test\`.` }),
    environment: t.field({ type: EnvironmentEnum, description: "The key's environment.", resolve: (d) => d.environment }),
    payload: t.field({ type: 'JSON', description: 'The JSON body sent: `{ type, timestamp, data }`.', resolve: (d) => d.payload }),
    status: t.field({ type: DeliveryStatusEnum, description: 'Pending, succeeded or failed.', resolve: (d) => d.status }),
    attemptCount: t.exposeInt('attemptCount', { description: 'Attempts made so far.' }),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', nullable: true, description: 'When the next attempt is due; null unless PENDING.' }),
    lastStatusCode: t.exposeInt('lastStatusCode', { nullable: true, description: 'HTTP status of the latest attempt that got an answer.' }),
    failureReason: t.field({
      type: FailureReasonEnum,
      nullable: true,
      description: 'Why the delivery was given up; null unless FAILED.',
      resolve: (d) => d.failureReason as FailureReason | null,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the event happened and was queued.' }),
    attempts: t.field({ type: [WebhookAttemptRef], description: 'Every attempt, oldest first.', resolve: (d) => d.attempts }),
  }),
});

const WebhookDeliveryConnection = connectionOf<WebhookDelivery>('WebhookDelivery', WebhookDeliveryRef, "A page of a key's webhook deliveries, newest first.");

const SetWebhookInput = builder.inputType('SetWebhookInput', {
  description: "Creates or replaces a key's webhook.",
  fields: (t) => ({
    keyId: t.id({ required: true, description: 'The API key.' }),
    url: t.string({
      required: true,
      description: 'An https URL whose host resolves only to public addresses (http and private addresses only where the server allows private webhooks).',
    }),
    events: t.stringList({ required: true, description: `A non-empty subset of ${EVENT_LIST}.` }),
    enabled: t.boolean({ description: 'Deliver events (default true). Enabling clears `disabledReason`.' }),
  }),
});

const WebhookKeyInput = (name: string, description: string) =>
  builder.inputType(name, {
    description,
    fields: (t) => ({ keyId: t.id({ required: true, description: 'The API key whose webhook this is.' }) }),
  });

const DeleteWebhookInput = WebhookKeyInput('DeleteWebhookInput', 'The webhook to delete.');
const SendTestWebhookInput = WebhookKeyInput('SendTestWebhookInput', 'The webhook to send a test event to.');

const RotateWebhookSecretInput = builder.inputType('RotateWebhookSecretInput', {
  description: 'The webhook whose signing secret to replace.',
  fields: (t) => ({
    keyId: t.id({ required: true, description: 'The API key whose webhook this is.' }),
    overlapSeconds: t.int({
      description: `Seconds during which deliveries carry signatures by both the new and the previous secret, 0 (default: the previous secret stops now) to ${MAX_SECRET_OVERLAP_SECONDS}.`,
    }),
  }),
});

const SetWebhookPayload = builder.objectRef<{ webhook: Webhook; signingSecret: string | null }>('SetWebhookPayload').implement({
  description: 'The webhook, and its signing secret when it was just created.',
  fields: (t) => ({
    webhook: t.field({ type: WebhookRef, description: 'The webhook.', resolve: (p) => p.webhook }),
    signingSecret: t.exposeString('signingSecret', {
      nullable: true,
      description: 'The signing secret (`whsec_…`), shown only here, once, when the webhook is created; null when an existing webhook was changed (its secret is kept: use `rotateWebhookSecret`).',
    }),
  }),
});

const RotateWebhookSecretPayload = builder.objectRef<{ webhook: Webhook; signingSecret: string }>('RotateWebhookSecretPayload').implement({
  description: 'The webhook and its new signing secret.',
  fields: (t) => ({
    webhook: t.field({ type: WebhookRef, description: 'The webhook.', resolve: (p) => p.webhook }),
    signingSecret: t.exposeString('signingSecret', { description: 'The new signing secret (`whsec_…`), shown only here, once.' }),
  }),
});

const DeleteWebhookPayload = builder.objectRef<{ deletedWebhookId: string; keyId: string }>('DeleteWebhookPayload').implement({
  description: 'The webhook that was deleted. Its delivery history stays readable.',
  fields: (t) => ({
    deletedWebhookId: t.exposeID('deletedWebhookId', { description: 'The deleted webhook.' }),
    keyId: t.exposeID('keyId', { description: 'The API key it belonged to.' }),
  }),
});

const SendTestWebhookPayload = builder.objectRef<{ delivery: WebhookDelivery }>('SendTestWebhookPayload').implement({
  description: 'The queued test delivery.',
  fields: (t) => ({ delivery: t.field({ type: WebhookDeliveryRef, description: 'The delivery, PENDING.', resolve: (p) => p.delivery }) }),
});

builder.queryFields((t) => ({
  webhookDeliveries: t.field({
    type: WebhookDeliveryConnection,
    nullable: true,
    description: "A key's webhook deliveries, newest first, each with every attempt (status code, duration, error class, next attempt time).",
    args: {
      keyId: t.arg.id({ required: true, description: 'The API key.' }),
      first: t.arg.int({ description: 'Page size, 1 to 100 (default 20).' }),
      after: t.arg.string({ description: 'Cursor from `pageInfo.endCursor`.' }),
    },
    resolve: (_root, args, ctx) => listWebhookDeliveries(ctx.app, sessionAccountId(ctx), String(args.keyId), args),
  }),
}));

builder.mutationFields((t) => ({
  setWebhook: t.field({
    type: SetWebhookPayload,
    nullable: true,
    description: "Creates the key's webhook (returning its signing secret, once) or replaces its URL, events and enabled flag.",
    args: { input: t.arg({ type: SetWebhookInput, required: true }) },
    resolve: (_root, { input }, ctx) => setWebhook(ctx.app, ctx.state, sessionAccountId(ctx), { ...input, keyId: String(input.keyId) }),
  }),
  deleteWebhook: t.field({
    type: DeleteWebhookPayload,
    nullable: true,
    description: "Deletes the key's webhook; deliveries not yet made are dropped.",
    args: { input: t.arg({ type: DeleteWebhookInput, required: true }) },
    resolve: (_root, { input }, ctx) => deleteWebhook(ctx.app, ctx.state, sessionAccountId(ctx), String(input.keyId)),
  }),
  rotateWebhookSecret: t.field({
    type: RotateWebhookSecretPayload,
    nullable: true,
    description: 'Issues a new signing secret, returned once; with `overlapSeconds`, deliveries are signed with both secrets for that long.',
    args: { input: t.arg({ type: RotateWebhookSecretInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      rotateWebhookSecret(ctx.app, ctx.state, sessionAccountId(ctx), { keyId: String(input.keyId), overlapSeconds: input.overlapSeconds }),
  }),
  sendTestWebhook: t.field({
    type: SendTestWebhookPayload,
    nullable: true,
    description: 'Queues a `webhook.test` event for the key\'s webhook, even if it is disabled or not subscribed to anything else.',
    args: { input: t.arg({ type: SendTestWebhookInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ delivery: await sendTestWebhook(ctx.app, sessionAccountId(ctx), String(input.keyId)) }),
  }),
}));
