/**
 * Where a demand-sized pool's claim history lives between reconcile passes, and what the
 * last pass decided from it (its target and why).
 *
 * The claim path writes nothing new for sizing: reconcile folds the claims the claim path
 * already records — served claims' receipts and missed claims' `claim_miss` events — into
 * the compact DemandHistory (domain/sizing.ts) under the pool's lease, and saves it fenced.
 */
import type { ClaimSample, PoolSizingState, StoredDecision } from './domain/sizing-fold.js';
import type { Fence } from './ports.js';

export type { ClaimSample, PoolSizingState, StoredDecision };

export interface SizingStore {
  /** The pool's state, or null when none was saved yet. */
  load(pool: string): Promise<PoolSizingState | null>;
  /** Saves the state if `fence` still holds the pool's lease; false (nothing written) when it does not. */
  save(pool: string, state: PoolSizingState, fence: Fence): Promise<boolean>;
  /** The last decision only (a small read for the API and the status page). */
  decision(pool: string): Promise<StoredDecision | null>;
  /** Served claims of one pool with `from <= at < to`, from the claims' receipts (all warm). */
  servedBetween(pool: string, from: number, to: number): Promise<ClaimSample[]>;
}
