/**
 * What a reconcile pass is given: its settings (with their defaults) and its
 * dependencies, the ports it acts through. Every reconcile file takes these.
 */
import type { Random } from '../domain/candidates.js';
import { DEFAULT_RECONCILE_SETTINGS } from '../domain/reconcile-plan.js';
import type { HistoryStore } from '../history.js';
import type { Logger } from '../logging.js';
import type { After, AssignmentStore, Clock, Compute, InstanceStore, PoolRuntimeStore, PoolStore, Prober, Publisher, Sleep } from '../ports.js';
import type { SizingStore } from '../sizing-store.js';

export interface ReconcileSettings {
  orphanGraceMs: number;
  deletingStuckMs: number;
  creatingStuckMs: number;
  leaseMs: number;
  /** How long a stocked-out zone stays cold. */
  coldZoneMs: number;
  probeConcurrency: number;
  createConcurrency: number;
  /** Pools reconciled at once by reconcileAll (WARMER_POOL_CONCURRENCY). */
  poolConcurrency: number;
  /**
   * How long a pass waits for its deletes and creations before it ends anyway (they go on
   * in the background: a creation's record is already written, an orphan is deleted again
   * by the next pass). No hung operation holds a pool's lease longer than this.
   */
  actionWaitMs: number;
  /** A plan older than this when the pass is about to act is made again from a fresh inventory. */
  replanAfterMs: number;
  /** Passes run again under the same lease while refill requests marked the pool dirty, at most this often. */
  maxReruns: number;
  /** Probe rounds after a scheduled pass run until this long after the tick (probe-rounds.ts); 0: none. */
  probeRoundBudgetMs: number;
  /** Passphrase for per-machine keys; pools that issue them cannot create without it. */
  sshKeyPassphrase: string | null;
  dryRun: boolean;
}

export const DEFAULT_SETTINGS: ReconcileSettings = {
  ...DEFAULT_RECONCILE_SETTINGS,
  leaseMs: 120_000,
  coldZoneMs: 5 * 60_000,
  probeConcurrency: 64,
  createConcurrency: 10,
  poolConcurrency: 16,
  actionWaitMs: 60_000,
  replanAfterMs: 30_000,
  maxReruns: 5,
  probeRoundBudgetMs: 0,
  sshKeyPassphrase: null,
  dryRun: false,
};

export interface ReconcileDeps {
  pools: PoolStore;
  instances: InstanceStore;
  runtime: PoolRuntimeStore;
  compute: Compute;
  prober: Prober;
  publisher: Publisher;
  clock: Clock;
  logger: Logger;
  settings: ReconcileSettings;
  /** Where assignee access is marked applied (claim-access.ts); without it keys stay pending. */
  assignments?: AssignmentStore;
  /** Identifies this process's leases. */
  holder?: string;
  /** Machines becoming ready with their boot time, for the status page (best effort; optional). */
  history?: HistoryStore;
  /** Demand-sized pools' claim history and decisions (optional: without it pools plan with targetReady). */
  sizing?: SizingStore;
  /** How refill requests wait (for the lease, between boot-watch probes). Default: real timers. */
  sleep?: Sleep;
  /** Jitter of those waits. Default: Math.random. */
  random?: Random;
  /** The lease heartbeat's and the bounded waits' timer. Default: real timers. */
  after?: After;
}
