// Query-cost budgets for API keys, Shopify's model: a bucket of COST_BUDGET.capacity points
// that refills at COST_BUDGET.restorePerSecond; each operation's calculated cost is taken
// from it before execution. Stored as a GCRA "theoretical arrival time" (tat): the moment the
// bucket would be full again, one number per key, moved by one conditional statement, so
// concurrent requests (and several instances on PostgreSQL) can never overspend it.
//
// On PostgreSQL an instance does not move the shared tat for every operation: it reserves a
// slice of the bucket (COST_SLICE_MS of tat, or what the operation needs if more) and spends
// it locally. A slice is a span of time [start, start + granted): spending moves a local tat
// through it, and what is left of it is `end - max(localTat, now)`, so an unspent slice
// shrinks at the rate the shared bucket refills and is gone by the time the shared bucket has
// refilled what was reserved. Without that, an instance could sit on a slice while the shared
// bucket filled up again, and the key could spend capacity plus the slice at once. With it,
// every instance together never spends more than one exact bucket would allow, and a key used
// from one instance is charged exactly as before (its local tat is the bucket's tat). Nothing
// is given back: an unused slice simply runs out.
import type { Clock } from '../deps.ts';
import type { LimiterStore } from './limiter-store.ts';

export const COST_BUDGET = {
  /** Points a key can spend at once (also the most a single operation may cost). */
  capacity: 1000,
  /** Points given back per second. */
  restorePerSecond: 50,
} as const;

const MS_PER_POINT = 1000 / COST_BUDGET.restorePerSecond;
const CAPACITY_MS = Math.round(COST_BUDGET.capacity * MS_PER_POINT);
/**
 * A slice of 200 points (a fifth of the bucket, four seconds of refill): a key spending a few
 * points per request from one instance reserves every few seconds rather than every request,
 * and a slice that one instance sits on hides at most 200 points of the key's budget from the
 * others, for at most four seconds.
 */
export const COST_SLICE_MS = 200 * MS_PER_POINT;
const MAX_REMEMBERED = 100_000;

export interface CostSpend {
  allowed: boolean;
  requested: number;
  /**
   * Points left after this operation (or now, when refused). On PostgreSQL: the shared bucket
   * as this instance last saw it (refilled since), plus what its slice still holds. Exact for
   * a key used from one instance; another instance's spending since is not in it.
   */
  remaining: number;
  /** When refused: seconds until the bucket holds enough. */
  retryAfterSeconds: number;
}

type Reservation = { outcome: 'granted' | 'refused' } | { outcome: 'failed'; error: unknown };

/** This instance's slice of one key's shared bucket. */
interface BudgetSlice {
  /** Where spending has got to inside the slice (a local tat). */
  spentTo: number;
  /** The slice ends here: it holds `end - max(spentTo, now)` ms. */
  end: number;
  /** The shared tat as of this instance's last reservation (it only ever grows). */
  sharedTat: number;
  /** The reservation in flight, which every spend of the key arriving meanwhile waits for. */
  reserving: Promise<Reservation> | null;
}

function remainingAt(tat: number, now: number): number {
  return Math.floor((CAPACITY_MS - Math.max(0, tat - now)) / MS_PER_POINT);
}

function refused(requested: number, tat: number, now: number): CostSpend {
  const waitMs = Math.max(0, tat + requested * MS_PER_POINT - CAPACITY_MS - now);
  return { allowed: false, requested, remaining: remainingAt(tat, now), retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
}

function held(slice: BudgetSlice, now: number): number {
  return Math.max(0, slice.end - Math.max(slice.spentTo, now));
}

/**
 * The bucket as one tat, for remaining and Retry-After: the shared tat less what the slice
 * still holds (for a key used from one instance, exactly the local tat).
 */
function combinedTat(slice: BudgetSlice, now: number): number {
  return Math.max(slice.sharedTat, now) - held(slice, now);
}

export class CostBudget {
  readonly #store: LimiterStore;
  readonly #clock: Clock;
  readonly #memory = new Map<string, number>();
  readonly #slices = new Map<string, BudgetSlice>();

  constructor(store: LimiterStore, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** Takes `requested` points from the key's bucket if it holds that many. */
  async spend(keyId: string, requested: number): Promise<CostSpend> {
    if (requested > COST_BUDGET.capacity) throw new RangeError('cost above capacity must be refused before spending');
    // Whole milliseconds: the PostgreSQL column is a bigint.
    const costMs = Math.ceil(requested * MS_PER_POINT);
    if (!this.#store.shared) return this.#spendInMemory(keyId, requested, costMs, this.#clock.now());

    for (;;) {
      const now = this.#clock.now();
      const slice = this.#slices.get(keyId);
      if (slice?.reserving) {
        const reservation = await slice.reserving;
        // No insurance here: a database that fails fails the request, as before reservations.
        if (reservation.outcome === 'failed') throw reservation.error;
        continue;
      }
      const holding = slice ? held(slice, now) : 0;
      if (slice && holding >= costMs) {
        slice.spentTo = Math.max(slice.spentTo, now) + costMs;
        return { allowed: true, requested, remaining: remainingAt(combinedTat(slice, now), now), retryAfterSeconds: 0 };
      }
      // The shared tat only grows: if it left too little room when last seen, the database
      // would refuse too.
      if (slice && CAPACITY_MS - Math.max(0, slice.sharedTat - now) + holding < costMs) {
        return refused(requested, combinedTat(slice, now), now);
      }
      return this.#reserve(keyId, requested, costMs, costMs - holding, now);
    }
  }

  /**
   * Reserves at least `needMs` for `keyId` and spends this operation's cost from it at `now`,
   * the moment the reservation was asked for; every spend of the key arriving meanwhile waits.
   */
  async #reserve(keyId: string, requested: number, costMs: number, needMs: number, now: number): Promise<CostSpend> {
    if (!this.#slices.has(keyId) && this.#slices.size >= MAX_REMEMBERED) this.#forgetEnded(now);
    const slice: BudgetSlice = this.#slices.get(keyId) ?? { spentTo: now, end: now, sharedTat: now, reserving: null };
    this.#slices.set(keyId, slice);
    let spend: CostSpend | null = null;
    const reserving = this.#store.reserveBudget(keyId, needMs, Math.max(needMs, COST_SLICE_MS), CAPACITY_MS, now).then(
      (budget): Reservation => {
        slice.sharedTat = Math.max(slice.sharedTat, budget.tat);
        slice.reserving = null;
        if (budget.grantedMs === 0) {
          spend = refused(requested, combinedTat(slice, now), now);
          return { outcome: 'refused' };
        }
        // A slice not yet ended grows (whatever it still holds stays usable); one that has
        // ended is replaced by one starting at the reservation.
        if (slice.end > now) slice.end += budget.grantedMs;
        else {
          slice.spentTo = now;
          slice.end = now + budget.grantedMs;
        }
        // What the slice held at `now` plus the grant covers the cost: it was asked for.
        slice.spentTo = Math.max(slice.spentTo, now) + costMs;
        spend = { allowed: true, requested, remaining: remainingAt(combinedTat(slice, now), now), retryAfterSeconds: 0 };
        return { outcome: 'granted' };
      },
      (error: unknown): Reservation => {
        slice.reserving = null;
        return { outcome: 'failed', error };
      },
    );
    slice.reserving = reserving;
    const reservation = await reserving;
    if (reservation.outcome === 'failed') throw reservation.error;
    if (!spend) throw new Error('reservation settled without a decision');
    return spend;
  }

  #spendInMemory(keyId: string, requested: number, costMs: number, now: number): CostSpend {
    const tat = Math.max(this.#memory.get(keyId) ?? now, now);
    if (tat + costMs - now > CAPACITY_MS) return refused(requested, tat, now);
    if (this.#memory.size >= MAX_REMEMBERED) this.#forgetFullBuckets(now);
    this.#memory.set(keyId, tat + costMs);
    return { allowed: true, requested, remaining: remainingAt(tat + costMs, now), retryAfterSeconds: 0 };
  }

  /** A bucket whose tat has passed is full: forgetting it changes nothing. */
  #forgetFullBuckets(now: number): void {
    for (const [key, tat] of this.#memory) if (tat <= now) this.#memory.delete(key);
  }

  /** A slice that has ended, of a bucket that has refilled, holds nothing to remember. */
  #forgetEnded(now: number): void {
    for (const [key, slice] of this.#slices) if (!slice.reserving && slice.end <= now && slice.sharedTat <= now) this.#slices.delete(key);
  }
}
