// Account settings: for now the low-balance threshold that `credits.low` watches.
import { insertAuditEvent } from '../audit/audit.queries.ts';
import { actorOf } from '../audit/actor.ts';
import type { RequestState } from '../context.ts';
import type { AppDeps } from '../deps.ts';
import { badUserInput, notFound } from '../errors.ts';
import { MAX_CREDIT_AMOUNT } from '../credits/credits.service.ts';
import { findSettings, setLowBalanceThreshold } from './settings.queries.ts';

export interface Settings {
  lowBalanceThreshold: number | null;
}

export async function getSettings(deps: AppDeps, accountId: string): Promise<Settings> {
  const row = await findSettings(deps.db, accountId);
  if (!row) throw notFound('Account');
  return { lowBalanceThreshold: row.low_balance_threshold };
}

/** `undefined` leaves a setting as it is; `null` clears it. */
export async function updateSettings(
  deps: AppDeps,
  state: RequestState,
  accountId: string,
  input: { lowBalanceThreshold?: number | null },
): Promise<Settings> {
  const threshold = input.lowBalanceThreshold;
  if (threshold !== undefined && threshold !== null && (!Number.isSafeInteger(threshold) || threshold < 0 || threshold > MAX_CREDIT_AMOUNT)) {
    throw badUserInput(`lowBalanceThreshold must be a whole number from 0 to ${MAX_CREDIT_AMOUNT}, or null.`, { field: 'lowBalanceThreshold' });
  }
  if (threshold !== undefined) {
    const at = deps.clock.now();
    await deps.db.transaction().execute(async (trx) => {
      await setLowBalanceThreshold(trx, accountId, threshold);
      await insertAuditEvent(trx, {
        accountId,
        ...actorOf(state),
        action: 'settings.updated',
        targetType: 'account',
        targetId: accountId,
        metadata: { lowBalanceThreshold: threshold },
        at,
      });
    });
  }
  return getSettings(deps, accountId);
}
