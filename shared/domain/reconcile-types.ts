/**
 * The shapes a reconcile plan exchanges: its input, its settings, the plan itself and
 * the teardown reasons (planReconcile in reconcile-plan.ts decides; the services act).
 */
import type { HealthInfo, InstanceRecord, InstanceState } from './instance.js';
import type { PoolSpec } from './pool-spec.js';
import type { Machine, QuotaHeadroom } from './machine.js';
import type { ProbeResult } from './probe.js';
import type { BreakerState } from './breaker.js';
import type { PlacementCapacity } from './placement.js';

export const TEARDOWN_REASONS = [
  'boot_timeout', // booting longer than bootTimeoutSeconds
  'machine_stopped', // a booting/ready machine found TERMINATED/STOPPED/SUSPENDED in Compute Engine
  'max_idle_age', // ready longer than maxIdleAgeSeconds: recycled, replaced in the same pass
  'over_target', // more ready than targetReady: the newest extras go
  'claim_expired', // claimed past claim.expiresAt
  'unhealthy', // failed N consecutive probes while ready
  'failed', // creation or boot failed
  'pool_disabled', // the pool is drained (claimed machines stay until released)
] as const;

export type TeardownReason = (typeof TEARDOWN_REASONS)[number];

export interface ReconcileSettings {
  /** A labelled machine with no record is deleted only once it is this old. */
  orphanGraceMs: number;
  /** A record in `deleting` this long gets its teardown published again. */
  deletingStuckMs: number;
  /** A `creating` record whose machine is missing is left alone this long (the insert may be in flight). */
  creatingStuckMs: number;
}

export const DEFAULT_RECONCILE_SETTINGS: ReconcileSettings = {
  orphanGraceMs: 10 * 60_000,
  deletingStuckMs: 10 * 60_000,
  creatingStuckMs: 5 * 60_000,
};

export interface ReconcileInput {
  pool: string;
  spec: PoolSpec;
  /** Epoch ms, read once by the caller. */
  now: number;
  /** Every non-deleted record of the pool, read before `machines` were listed. */
  records: InstanceRecord[];
  /** Every Compute Engine machine labelled with the pool (complete). */
  machines: Machine[];
  /** This pass's probe results by instance name (booting and ready records with an ip). */
  probes: Map<string, ProbeResult>;
  /** null: the quota read failed, so nothing is inserted this pass. */
  quota: QuotaHeadroom | null;
  /**
   * A dedicated-node pool's placement read (what fits on its node group now). Absent: the
   * pool has no placement. null: the read failed, so nothing is inserted this pass.
   */
  placement?: PlacementCapacity | null;
  /** zone → epoch ms until which it is cold (stock-out). */
  coldZones: Record<string, number>;
  breaker: BreakerState;
  settings: ReconcileSettings;
}

/** Fields a transition may set (never name, pool or state: the transition sets state). */
export type RecordPatch = Partial<Omit<InstanceRecord, 'name' | 'pool' | 'state'>>;

export interface PlannedTransition {
  name: string;
  from: InstanceState;
  to: InstanceState;
  reason: string;
  patch?: RecordPatch;
}

export type EventSeverity = 'INFO' | 'WARNING' | 'ERROR';

export interface PlanEvent {
  severity: EventSeverity;
  message: string;
  fields?: Record<string, unknown>;
}

export interface PlanCounts {
  /** Records that are creating/booting/ready after this plan (what counts toward target). */
  creating: number;
  booting: number;
  ready: number;
  claimed: number;
  /** Everything that takes capacity: live records plus labelled machines without a record. */
  occupied: number;
  unrecordedMachines: number;
  /** targetReady − (creating + booting + ready), before any cap. */
  want: number;
}

export interface ReconcilePlan {
  /** Compare-and-set moves: booting→ready, ready→unhealthy, creating→booting, creating→failed. */
  transitions: PlannedTransition[];
  /** Health field updates without a state change (only when something changed). */
  healthUpdates: Array<{ name: string; state: InstanceState; health: HealthInfo }>;
  /** Records to move to `deleting` and publish a teardown for. */
  teardowns: Array<{ name: string; from: InstanceState; reason: TeardownReason }>;
  /** Records in `deleting` for longer than deletingStuckMs: publish the teardown again. */
  republish: Array<{ name: string; reason: string }>;
  /** New machines to create, one entry each, with the zone (the service names them). */
  creates: Array<{ zone: string }>;
  /** Labelled machines with no record, older than orphanGraceMs: delete them. */
  orphans: Array<{ name: string; zone: string }>;
  /** Records whose machine is gone: move them to `deleted`. */
  closeRecords: Array<{ name: string; from: InstanceState; reason: string }>;
  /** `creating` records stuck past creatingStuckMs with no machine: insert again with the stored requestId. */
  retryCreates: Array<{ name: string; zone: string }>;
  events: PlanEvent[];
  counts: PlanCounts;
}

/** When the record entered `state`, falling back to its creation. */
export function enteredAt(record: InstanceRecord, state: InstanceState): number {
  return record.stateChangedAt[state] ?? record.createdAt;
}
