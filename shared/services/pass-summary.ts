/**
 * What a reconcile pass reports: its outcome and counts (logged once per pass and
 * returned to the caller), and how the runs of one lease add up.
 */

export interface PassSummary {
  pool: string;
  /**
   * skipped_lease: another pass runs (it covers the request, or `dirtied` it so it runs
   * again); covered: a pass that started after the request already ran; lease_lost: the
   * lease was taken over mid-pass, so this pass stopped acting.
   */
  outcome: 'done' | 'skipped_lease' | 'covered' | 'no_pool' | 'inventory_failed' | 'lease_lost' | 'error';
  created: number;
  createFailed: number;
  tornDown: number;
  orphansDeleted: number;
  recordsClosed: number;
  madeReady: number;
  madeUnhealthy: number;
  durationMs: number;
  /** Passes run again under the same lease because refill requests came in meanwhile. */
  reruns?: number;
  /** skipped_lease: whether this request marked the running pass dirty. */
  dirtied?: boolean;
  /** Deletes or creations still running when the pass ended (bounded by actionWaitMs). */
  stillRunning?: number;
  error?: string;
}

export const emptySummary = (pool: string, outcome: PassSummary['outcome']): PassSummary => ({
  pool,
  outcome,
  created: 0,
  createFailed: 0,
  tornDown: 0,
  orphansDeleted: 0,
  recordsClosed: 0,
  madeReady: 0,
  madeUnhealthy: 0,
  durationMs: 0,
});

/** The runs of one lease (reruns for refill requests) as one summary: counts add up, the last run's outcome stands. */
export function mergeSummaries(a: PassSummary, b: PassSummary): PassSummary {
  return {
    ...b,
    created: a.created + b.created,
    createFailed: a.createFailed + b.createFailed,
    tornDown: a.tornDown + b.tornDown,
    orphansDeleted: a.orphansDeleted + b.orphansDeleted,
    recordsClosed: a.recordsClosed + b.recordsClosed,
    madeReady: a.madeReady + b.madeReady,
    madeUnhealthy: a.madeUnhealthy + b.madeUnhealthy,
    reruns: a.reruns,
  };
}
