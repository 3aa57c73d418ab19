// The ordered list of migrations. A static list (not a directory scan) so that the
// migrator works the same under tsx, vitest and any bundler.
import type { Migration } from 'kysely';
import * as initial from './2026-11-23T05-00-00_initial.ts';
import * as webhookDeliveryClaims from './2026-11-23T06-00-00_webhook_delivery_claims.ts';
import * as persistedOperations from './2026-11-23T06-30-00_persisted_operations.ts';
import * as apiKeyChangeNotifications from './2026-11-23T07-10-00_api_key_change_notifications.ts';
import * as dueJobIndexes from './2026-12-01T11-00-00_due_job_indexes.ts';

export const migrations: Record<string, Migration> = {
  '2026-11-23T05-00-00_initial': initial,
  '2026-11-23T06-00-00_webhook_delivery_claims': webhookDeliveryClaims,
  '2026-11-23T06-30-00_persisted_operations': persistedOperations,
  '2026-11-23T07-10-00_api_key_change_notifications': apiKeyChangeNotifications,
  '2026-12-01T11-00-00_due_job_indexes': dueJobIndexes,
};
