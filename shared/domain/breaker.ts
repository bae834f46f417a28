/**
 * A per-pool circuit breaker for creations, so a bad image or a broken network cannot
 * create and delete machines in a loop. Pure: `now` (epoch ms) is passed in.
 *
 *   closed ──N consecutive failures──▶ open (base × 2^(failures−N), capped)
 *     ▲                                  │ time passes
 *     └──────── a success ◀── half-open (lets one creation through)
 *                                 │ a failure: open again, for twice as long
 */
export interface BreakerState {
  /** Failures since the last success. */
  consecutiveFailures: number;
  /** Epoch ms until which creations are refused; null when closed. */
  openUntil: number | null;
}

export interface BreakerPolicy {
  /** Consecutive failures that open the breaker. */
  failureThreshold: number;
  /** How long the breaker stays open the first time. */
  baseOpenMs: number;
  /** The longest it stays open. */
  maxOpenMs: number;
}

export const DEFAULT_BREAKER_POLICY: BreakerPolicy = {
  failureThreshold: 3,
  baseOpenMs: 30_000,
  maxOpenMs: 15 * 60_000,
};

export const CLOSED_BREAKER: BreakerState = { consecutiveFailures: 0, openUntil: null };

export type BreakerPhase = 'closed' | 'open' | 'half_open';

export function breakerPhase(state: BreakerState, now: number): BreakerPhase {
  if (state.openUntil === null) return 'closed';
  return now < state.openUntil ? 'open' : 'half_open';
}

/** How many creations may be attempted now: unlimited when closed, 1 half-open, 0 open. */
export function breakerCreateLimit(state: BreakerState, now: number): number {
  const phase = breakerPhase(state, now);
  return phase === 'closed' ? Infinity : phase === 'half_open' ? 1 : 0;
}

/** How long the breaker opens for after `failures` consecutive failures. */
export function openDurationMs(failures: number, policy: BreakerPolicy = DEFAULT_BREAKER_POLICY): number {
  const doublings = Math.min(Math.max(failures - policy.failureThreshold, 0), 30);
  return Math.min(policy.baseOpenMs * 2 ** doublings, policy.maxOpenMs);
}

/**
 * Folds one pass's creation outcomes into the breaker. Any success closes it (the image
 * and network work; a failure next to it was zone- or quota-specific). Failures only
 * (insert errors and boot timeouts, as the caller counts them) add up; from the
 * threshold on, the breaker opens for base × 2^(failures − threshold), capped.
 * No outcome leaves the state as it was.
 */
export function recordCreateResults(
  state: BreakerState,
  results: { succeeded: number; failed: number },
  now: number,
  policy: BreakerPolicy = DEFAULT_BREAKER_POLICY,
): BreakerState {
  if (results.succeeded > 0) return CLOSED_BREAKER;
  if (results.failed <= 0) return state;
  const consecutiveFailures = state.consecutiveFailures + results.failed;
  if (consecutiveFailures < policy.failureThreshold) return { consecutiveFailures, openUntil: null };
  return { consecutiveFailures, openUntil: now + openDurationMs(consecutiveFailures, policy) };
}
