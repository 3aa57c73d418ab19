// Keeps an instance's key-verification cache honest on PostgreSQL, where other instances
// (and the operator CLI) write keys too: every change is announced by a trigger (migration
// 2026-11-23T07-10-00) on this channel, and evicted here. While the LISTEN connection is
// down the cache is off and every keyed request reads its key, as it would without a cache.
import type { DatabaseHandle } from '../db/connect.ts';
import type { ApiKeyVerifier } from './api-key-verifier.ts';

export const API_KEY_CHANNEL = 'keyscope_api_keys';

export function followApiKeyChanges(database: DatabaseHandle, keys: ApiKeyVerifier): void {
  database.listen?.(API_KEY_CHANNEL, {
    onListening: () => keys.setCaching(true),
    onMessage: (keyId) => keys.announced(keyId),
    onLost: () => keys.setCaching(false),
  });
}
