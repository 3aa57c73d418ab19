// The database as Kysely sees it. Timestamps are epoch milliseconds, booleans 0/1,
// JSON columns text: the same on SQLite and PostgreSQL (see the initial migration).
import type { Generated, Kysely, Transaction } from 'kysely';

export type Scope = 'READ' | 'WRITE' | 'READ_WRITE';
export type Environment = 'LIVE' | 'TEST';

export interface AccountsTable {
  id: string;
  email: string;
  password_hash: string;
  email_verified_at: number | null;
  credit_balance: Generated<number>;
  low_balance_threshold: number | null;
  created_at: number;
}

export interface SessionsTable {
  id: string;
  account_id: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  revoked_reason: string | null;
  ip: string | null;
}

export interface RefreshTokensTable {
  token_hash: string;
  session_id: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface AccountTokensTable {
  token_hash: string;
  account_id: string;
  purpose: 'verify_email' | 'reset_password';
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface ApiKeysTable {
  id: string;
  account_id: string;
  name: string;
  prefix: string;
  scope: Scope;
  environment: Environment;
  created_at: number;
  updated_at: number;
  last_used_at: number | null;
  last_used_ip: string | null;
  expires_at: number | null;
  revoked_at: number | null;
  allowed_ips: string;
  allowed_referrers: string;
  allowed_operations: string;
  rate_limit_requests: number | null;
  rate_limit_window_seconds: number | null;
  expiring_notified_at: number | null;
}

export interface ApiKeySecretsTable {
  hash: string;
  key_id: string;
  created_at: number;
  expires_at: number | null;
}

export type LedgerKind = 'grant' | 'claim' | 'debit' | 'refund' | 'correction';

export interface CreditLedgerTable {
  id: string;
  account_id: string;
  amount: number;
  balance_after: number;
  kind: LedgerKind;
  reason: string;
  actor: string;
  key_id: string | null;
  job_id: string | null;
  claim_code_id: string | null;
  created_at: number;
}

export interface ClaimCodesTable {
  id: string;
  code_hash: string;
  amount: number;
  max_redemptions: number;
  redemptions: Generated<number>;
  expires_at: number | null;
  created_at: number;
}

export interface ClaimRedemptionsTable {
  claim_code_id: string;
  account_id: string;
  created_at: number;
}

export type JobStatus = 'QUEUED' | 'RUNNING' | 'COMPLETED' | 'FAILED';

export interface JobsTable {
  id: string;
  account_id: string;
  key_id: string;
  environment: Environment;
  kind: string;
  status: JobStatus;
  cost: number;
  charged: number;
  input: string | null;
  result: string | null;
  attempts: Generated<number>;
  claimed_until: number | null;
  created_at: number;
  completed_at: number | null;
}

export interface IdempotencyKeysTable {
  account_id: string;
  environment: Environment;
  key: string;
  operation: string;
  request_hash: string;
  result_id: string;
  created_at: number;
}

export interface WebhooksTable {
  id: string;
  key_id: string;
  account_id: string;
  url: string;
  events: string;
  enabled: number;
  secret_enc: string;
  previous_secret_enc: string | null;
  previous_secret_expires_at: number | null;
  disabled_reason: string | null;
  created_at: number;
  updated_at: number;
}

export type DeliveryStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED';

export interface WebhookDeliveriesTable {
  id: string;
  message_id: string;
  webhook_id: string;
  account_id: string;
  key_id: string;
  environment: Environment;
  event_type: string;
  payload: string;
  status: DeliveryStatus;
  attempt_count: Generated<number>;
  next_attempt_at: number | null;
  claimed_until: number | null;
  /** Random token of the worker holding the lease. */
  claimed_by: string | null;
  last_status_code: number | null;
  /** Why a FAILED delivery stopped: retries_exhausted, gone, webhook_disabled, webhook_deleted. */
  failure_reason: string | null;
  created_at: number;
}

export interface WebhookAttemptsTable {
  id: string;
  delivery_id: string;
  attempt: number;
  status_code: number | null;
  duration_ms: number;
  error_class: string | null;
  response_excerpt: string | null;
  next_attempt_at: number | null;
  created_at: number;
}

export interface UsageDailyTable {
  key_id: string;
  day: string;
  account_id: string;
  environment: Environment;
  requests: number;
  errors: number;
  credits_charged: number;
}

export interface AuditEventsTable {
  id: string;
  account_id: string;
  actor_type: 'session' | 'api_key' | 'operator' | 'system';
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  metadata: string;
  created_at: number;
}

export interface PersistedOperationsTable {
  /** SHA-256 (hex) of `document`, exactly as clients send it in `extensions.persistedQuery.sha256Hash`. */
  hash: string;
  document: string;
  operation_name: string | null;
  created_at: number;
}

export interface Database {
  accounts: AccountsTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  account_tokens: AccountTokensTable;
  api_keys: ApiKeysTable;
  api_key_secrets: ApiKeySecretsTable;
  credit_ledger: CreditLedgerTable;
  claim_codes: ClaimCodesTable;
  claim_redemptions: ClaimRedemptionsTable;
  jobs: JobsTable;
  idempotency_keys: IdempotencyKeysTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  usage_daily: UsageDailyTable;
  audit_events: AuditEventsTable;
  persisted_operations: PersistedOperationsTable;
}

export type Db = Kysely<Database>;
/** A handle that may be the database or an open transaction: query functions take either. */
export type DbOrTrx = Kysely<Database> | Transaction<Database>;
