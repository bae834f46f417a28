import type { BreakerState } from './breaker.js';

/** What reconcile remembers about a pool between passes. Written by reconcile only, never on a claim. */
export interface PoolRuntime {
  /** zone → epoch ms until which it is considered stocked out. */
  coldZones: Record<string, number>;
  breaker: BreakerState;
  /**
   * instance → epoch ms of its last probe, so ready and claimed machines are probed at
   * most once per `healthCheck.intervalSeconds` (kept here, not on the instance records,
   * so probing never conflicts with claims). Booting machines are probed every pass.
   */
  probedAt?: Record<string, number>;
  lastPass: {
    startedAt: number;
    durationMs: number;
    created: number;
    tornDown: number;
    orphansDeleted: number;
    error: string | null;
  } | null;
}

export const emptyRuntime = (): PoolRuntime => ({ coldZones: {}, breaker: { consecutiveFailures: 0, openUntil: null }, lastPass: null });
