/**
 * Folding recorded claims into a pool's DemandHistory, pass by pass. Pure: the window and
 * the fold are functions of (stored state, claims, now).
 *
 * Each pass folds the claims of [foldedThrough, now − FOLD_SETTLE_MS) and moves
 * `foldedThrough` to the end of that window, in one fenced write with the history, so
 * every claim is folded exactly once even across failed, repeated or overlapping passes
 * (a pass that lost its lease cannot save). The settle time leaves room for a claim whose
 * time was stamped before its transaction committed.
 */
import { emptyHistory, recordClaim, rollHistory, type DemandHistory, type SizingDecision } from './sizing.js';

/** Claims younger than this are folded by a later pass. */
export const FOLD_SETTLE_MS = 10_000;
/** A pool's first fold (or one after a long gap) reads at most this far back. */
export const MAX_BACKFILL_MS = 24 * 3600 * 1000;

/** One claim as sizing sees it: when, how many machines, how many were served from ready ones. */
export interface ClaimSample {
  at: number;
  count: number;
  warm: number;
}

/** What the last pass decided, for the API, `warmer pools get` and the status page. */
export interface StoredDecision extends SizingDecision {
  /** Epoch ms of the pass that decided it. */
  computedAt: number;
  /** The boot time the decision assumed (how far ahead a machine created now is useful). */
  leadMs: number;
}

export interface PoolSizingState {
  history: DemandHistory;
  /** Claims with `at` below this are in `history`; null before the first fold. */
  foldedThrough: number | null;
  decision: StoredDecision | null;
}

/** The claims a pass folds: [from, to). Empty (from = to) when nothing new has settled. */
export function foldWindow(state: PoolSizingState | null, now: number): { from: number; to: number } {
  const to = now - FOLD_SETTLE_MS;
  const from = Math.max(state?.foldedThrough ?? -Infinity, to - MAX_BACKFILL_MS);
  return { from: Math.min(from, to), to };
}

/**
 * The history with the window's claims folded in, oldest first, and rolled to the window's
 * end. Claims outside the window are ignored (a store may return a little more).
 */
export function foldClaims(state: PoolSizingState | null, claims: readonly ClaimSample[], window: { from: number; to: number }): PoolSizingState {
  let history: DemandHistory = state?.history ?? emptyHistory();
  const predicted = state?.decision?.why.predictedHitRate ?? undefined;
  const inWindow = claims.filter((c) => c.at >= window.from && c.at < window.to && c.count > 0).sort((a, b) => a.at - b.at);
  for (const c of inWindow) {
    history = recordClaim(history, c.at, {
      count: c.count,
      warm: c.warm,
      ...(predicted === null || predicted === undefined ? {} : { predictedHitRate: predicted }),
    });
  }
  history = rollHistory(history, window.to);
  return { history, foldedThrough: Math.max(window.to, state?.foldedThrough ?? -Infinity), decision: state?.decision ?? null };
}

/** A decision as stored: the pure decision plus when and with which lead it was made. */
export function storedDecision(d: SizingDecision, computedAt: number, leadMs: number): StoredDecision {
  return { ...d, computedAt, leadMs };
}
