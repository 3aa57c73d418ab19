/* eslint-disable */
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type Maybe<T> = T | null;
export type InputMaybe<T> = T | null | undefined;
export type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
export type MakeOptional<T, K extends keyof T> = Omit<T, K> & { [SubKey in K]?: Maybe<T[SubKey]> };
export type MakeMaybe<T, K extends keyof T> = Omit<T, K> & { [SubKey in K]: Maybe<T[SubKey]> };
export type MakeEmpty<T extends { [key: string]: unknown }, K extends keyof T> = { [_ in K]?: never };
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
/** All built-in and custom scalars, mapped to their actual values */
export type Scalars = {
  ID: { input: string; output: string; }
  String: { input: string; output: string; }
  Boolean: { input: boolean; output: boolean; }
  Int: { input: number; output: number; }
  Float: { input: number; output: number; }
  /** An instant, as an RFC 3339 string in UTC (`2026-11-23T10:00:00.000Z`). */
  DateTime: { input: string; output: string; }
  /** Any JSON value. */
  JSON: { input: unknown; output: unknown; }
};

/** What a key may call. */
export enum ApiKeyScope {
  /** Query fields only. */
  Read = 'READ',
  /** Query and mutation fields. */
  ReadWrite = 'READ_WRITE',
  /** Mutation fields only. */
  Write = 'WRITE'
}

/** Who acted. */
export enum AuditActorType {
  /** An API key (`actorId` is the key id). */
  ApiKey = 'API_KEY',
  /** An operator, through the command line. */
  Operator = 'OPERATOR',
  /** A dashboard session (`actorId` is the session id; null before sign-in). */
  Session = 'SESSION',
  /** Keyscope itself (emailed links, expiries, workers). */
  System = 'SYSTEM'
}

/** How the caller authenticated. */
export enum AuthMethod {
  /** `Authorization: Bearer` or `X-Api-Key`. */
  ApiKey = 'API_KEY',
  /** Dashboard session cookies. */
  Session = 'SESSION'
}

/** A claim code from an operator. */
export type ClaimCreditsInput = {
  /** The code (`ksc_…`). */
  code: Scalars['String']['input'];
};

/** A new API key. */
export type CreateApiKeyInput = {
  /** LIVE needs a verified email. */
  environment: Environment;
  /** When the key stops working (future). */
  expiresAt?: InputMaybe<Scalars['DateTime']['input']>;
  /** A label for people, 1 to 100 characters. */
  name: Scalars['String']['input'];
  /** Its own rate limit instead of the server default. */
  rateLimit?: InputMaybe<RateLimitInput>;
  /** IP, referrer and operation restrictions. */
  restrictions?: InputMaybe<KeyRestrictionsInput>;
  /** What the key may call. */
  scope: ApiKeyScope;
};

/** A job to run. */
export type CreateJobInput = {
  /** Makes retries safe for 24 hours: the same key with the same input returns the first job and charges once; with a different input it fails with CONFLICT. 1 to 255 printable characters, unique per account and environment. */
  idempotencyKey?: InputMaybe<Scalars['String']['input']>;
  /** Anything the processor needs, up to 65536 characters of JSON. */
  input?: InputMaybe<Scalars['JSON']['input']>;
  /** What to do; sets the price. */
  kind: JobKind;
};

/** Email and password. */
export type CredentialsInput = {
  /** Email address. */
  email: Scalars['String']['input'];
  /** 10 to 256 characters. */
  password: Scalars['String']['input'];
};

/** Why the balance changed. */
export enum CreditLedgerKind {
  /** A claim code redeemed with `claimCredits`. */
  Claim = 'CLAIM',
  /** An operator correction, up or down. */
  Correction = 'CORRECTION',
  /** Paid for a metered operation. */
  Debit = 'DEBIT',
  /** Granted by an operator (command line). */
  Grant = 'GRANT',
  /** Given back for a job that FAILED. */
  Refund = 'REFUND'
}

/** The webhook to delete. */
export type DeleteWebhookInput = {
  /** The API key whose webhook this is. */
  keyId: Scalars['ID']['input'];
};

/** An email address. */
export type EmailInput = {
  /** Email address. */
  email: Scalars['String']['input'];
};

/** LIVE data is real and charged; TEST data is kept apart and never charged. */
export enum Environment {
  /** Production: charged, counted, real. */
  Live = 'LIVE',
  /** Sandbox: never charged, kept apart from LIVE data. */
  Test = 'TEST'
}

/** Every GraphQL error carries one of these in `extensions.code`. Declared here so that generated clients can switch on it; no field returns it. */
export enum ErrorCode {
  /** The input is invalid, or the query exceeds depth, alias, token or cost limits. */
  BadUserInput = 'BAD_USER_INPUT',
  /** The request conflicts with existing state, e.g. an idempotency key reused with different input. */
  Conflict = 'CONFLICT',
  /** Authenticated, but not allowed: scope, session-only field, key restrictions or a missing CSRF header. */
  Forbidden = 'FORBIDDEN',
  /** An unexpected failure. Details are logged on the server under the request id, never returned. */
  InternalServerError = 'INTERNAL_SERVER_ERROR',
  /** No such object in the caller’s account and environment. */
  NotFound = 'NOT_FOUND',
  /** The account has fewer credits than the operation costs; nothing was charged. */
  PaymentRequired = 'PAYMENT_REQUIRED',
  /** Too many requests or too much query cost; retry after the advertised delay. */
  RateLimited = 'RATE_LIMITED',
  /** No valid credentials: the API key is malformed, unknown, revoked or expired, or no session. */
  Unauthenticated = 'UNAUTHENTICATED'
}

/** What a job does. Each kind has its own price in credits (KEYSCOPE_JOB_COSTS; defaults 1, 1 and 2). */
export enum JobKind {
  /** Enhance an image (default 1 credit). */
  Enhance = 'ENHANCE',
  /** Place products in a scene (default 2 credits). */
  PlaceProducts = 'PLACE_PRODUCTS',
  /** Stage a scene (default 1 credit). */
  Stage = 'STAGE'
}

/** Where a job is in its life. */
export enum JobStatus {
  /** Done; `result` holds the output. Fires `job.completed`. */
  Completed = 'COMPLETED',
  /** Failed; `result` says why. Its credits were refunded. Fires `job.failed`. */
  Failed = 'FAILED',
  /** Paid for and waiting for a worker. */
  Queued = 'QUEUED',
  /** A worker is processing it. */
  Running = 'RUNNING'
}

/** Restrictions to set. A list that is given replaces the current one; an empty list removes the limit. */
export type KeyRestrictionsInput = {
  /** IPv4/IPv6 addresses and CIDR ranges. */
  allowedIps?: InputMaybe<Array<Scalars['String']['input']>>;
  /** Root field names (`createJob`, `credits`, …). */
  allowedOperations?: InputMaybe<Array<Scalars['String']['input']>>;
  /** Origins such as `https://app.example.com`. */
  allowedReferrers?: InputMaybe<Array<Scalars['String']['input']>>;
};

/** A request budget per window. */
export type RateLimitInput = {
  /** 1 to 1000000 requests. */
  requests: Scalars['Int']['input'];
  /** 1 to 86400 seconds. */
  windowSeconds: Scalars['Int']['input'];
};

/** The token from a reset email link and the new password. */
export type ResetPasswordInput = {
  /** The new password, 10 to 256 characters. */
  password: Scalars['String']['input'];
  /** The `token` query parameter of the link. */
  token: Scalars['String']['input'];
};

/** The key to revoke. */
export type RevokeApiKeyInput = {
  /** The key. */
  id: Scalars['ID']['input'];
};

/** The key to roll and how long its current secret keeps working. */
export type RollApiKeyInput = {
  /** Seconds the old secret keeps working, 0 (revoke it now) to 604800. Rolling again never extends an older secret. */
  gracePeriodSeconds: Scalars['Int']['input'];
  /** The key. */
  id: Scalars['ID']['input'];
};

/** The webhook whose signing secret to replace. */
export type RotateWebhookSecretInput = {
  /** The API key whose webhook this is. */
  keyId: Scalars['ID']['input'];
  /** Seconds during which deliveries carry signatures by both the new and the previous secret, 0 (default: the previous secret stops now) to 604800. */
  overlapSeconds?: InputMaybe<Scalars['Int']['input']>;
};

/** The webhook to send a test event to. */
export type SendTestWebhookInput = {
  /** The API key whose webhook this is. */
  keyId: Scalars['ID']['input'];
};

/** Creates or replaces a key's webhook. */
export type SetWebhookInput = {
  /** Deliver events (default true). Enabling clears `disabledReason`. */
  enabled?: InputMaybe<Scalars['Boolean']['input']>;
  /** A non-empty subset of `job.completed`, `job.failed`, `credits.low`, `key.revoked`, `key.expiring`. */
  events: Array<Scalars['String']['input']>;
  /** The API key. */
  keyId: Scalars['ID']['input'];
  /** An https URL whose host resolves only to public addresses (http and private addresses only where the server allows private webhooks). */
  url: Scalars['String']['input'];
};

/** Changes to a key. Omitted fields stay as they are. */
export type UpdateApiKeyInput = {
  /** True to return to the server default rate limit. */
  clearRateLimit?: InputMaybe<Scalars['Boolean']['input']>;
  /** The key. */
  id: Scalars['ID']['input'];
  /** New label. */
  name?: InputMaybe<Scalars['String']['input']>;
  /** New rate limit. */
  rateLimit?: InputMaybe<RateLimitInput>;
  /** Lists given here replace the current ones. */
  restrictions?: InputMaybe<KeyRestrictionsInput>;
};

/** Settings to change. Omitted fields stay as they are. */
export type UpdateSettingsInput = {
  /** A whole number of credits ≥ 0, or null to turn the alert off. */
  lowBalanceThreshold?: InputMaybe<Scalars['Int']['input']>;
};

/** The token from a verification email link. */
export type VerifyEmailInput = {
  /** The `token` query parameter of the link. */
  token: Scalars['String']['input'];
};

/** What kind of failure an attempt met. */
export enum WebhookAttemptError {
  /** The URL or the address connected to is not public (SSRF protection); nothing was sent. */
  AddressRefused = 'ADDRESS_REFUSED',
  /** The connection was refused, reset or closed. */
  Connection = 'CONNECTION',
  /** The host name did not resolve. */
  Dns = 'DNS',
  /** The receiver answered with a status other than 2xx or 3xx. */
  HttpStatus = 'HTTP_STATUS',
  /** The receiver answered 3xx; redirects are never followed. */
  Redirect = 'REDIRECT',
  /** The signing secret could not be read (was KEYSCOPE_SECRET changed?); nothing was sent. Rotate the secret. */
  SigningFailed = 'SIGNING_FAILED',
  /** No complete answer within 10 seconds. */
  Timeout = 'TIMEOUT',
  /** The TLS handshake or certificate check failed. */
  Tls = 'TLS'
}

/** Where a delivery stands. */
export enum WebhookDeliveryStatus {
  /** Given up; `failureReason` says why. */
  Failed = 'FAILED',
  /** Waiting for its next attempt (`nextAttemptAt`). */
  Pending = 'PENDING',
  /** The receiver answered 2xx. */
  Succeeded = 'SUCCEEDED'
}

/** Why a delivery was given up. */
export enum WebhookFailureReason {
  /** The receiver answered 410 Gone; the webhook was disabled at once. */
  Gone = 'GONE',
  /** No 2xx answer during the whole retry schedule (about three days). */
  RetriesExhausted = 'RETRIES_EXHAUSTED',
  /** The webhook was deleted before the delivery could be made. */
  WebhookDeleted = 'WEBHOOK_DELETED',
  /** The webhook was disabled before the delivery could be made. */
  WebhookDisabled = 'WEBHOOK_DISABLED'
}

export type CreateJobMutationVariables = Exact<{
  input: CreateJobInput;
}>;


export type CreateJobMutation = { __typename?: 'Mutation', createJob?: { __typename?: 'CreateJobPayload', job: { __typename?: 'Job', id: string, kind: JobKind, status: JobStatus, cost: number, charged: number } } | null };

export type CreditsQueryVariables = Exact<{ [key: string]: never; }>;


export type CreditsQuery = { __typename?: 'Query', credits?: { __typename?: 'CreditBalance', balance: number, environment: Environment } | null };

export type ViewerQueryVariables = Exact<{ [key: string]: never; }>;


export type ViewerQuery = { __typename?: 'Query', viewer?: { __typename?: 'Viewer', authMethod: AuthMethod, account: { __typename?: 'Account', id: string }, apiKey?: { __typename?: 'ApiKey', id: string, name: string, scope: ApiKeyScope, environment: Environment } | null } | null };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}

export const CreateJobDocument = new TypedDocumentString(`
    mutation CreateJob($input: CreateJobInput!) {
  createJob(input: $input) {
    job {
      id
      kind
      status
      cost
      charged
    }
  }
}
    `, {"hash":"756fa3488edb59dde1e6a81679fd5d5d393d8a5f29b645a0eb1fc524a2523497"}) as unknown as TypedDocumentString<CreateJobMutation, CreateJobMutationVariables>;
export const CreditsDocument = new TypedDocumentString(`
    query Credits {
  credits {
    balance
    environment
  }
}
    `, {"hash":"d87a0b9185f9e67dd2efdd17898d3406b25a3210d856a496da52f19526510792"}) as unknown as TypedDocumentString<CreditsQuery, CreditsQueryVariables>;
export const ViewerDocument = new TypedDocumentString(`
    query Viewer {
  viewer {
    authMethod
    account {
      id
    }
    apiKey {
      id
      name
      scope
      environment
    }
  }
}
    `, {"hash":"4db87db45964cb9d0fc5148724088e6d5934f77bc44b41d5cf141083dacbe338"}) as unknown as TypedDocumentString<ViewerQuery, ViewerQueryVariables>;