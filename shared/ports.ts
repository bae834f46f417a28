/**
 * The interfaces the services need. Adapters implement them (Firestore, Compute Engine,
 * Pub/Sub, TCP/SSH prober); tests use small fakes with real behaviour that pass the same
 * contract suites. No SDK type appears here.
 */
import type { ClaimOutcome, ClaimRequest, ServedClaim } from './domain/claim.js';
import type { InstanceRecord, InstanceState } from './domain/instance.js';
import type { InstancePage, InstanceQuery } from './domain/assignment.js';
import type { CreateMachineRequest, Machine, QuotaHeadroom } from './domain/machine.js';
import type { NodeGroupPlacement } from './domain/placement.js';
import type { RefillMessage, TeardownMessage } from './domain/messages.js';
import type { ClaimPassInput, LeaseGrant, PassClaim, PoolRuntime, PoolRuntimeDoc } from './domain/pool-runtime.js';
import type { Pool, PoolSpec } from './domain/pool-spec.js';
import type { ProbeResult, ProbeTarget } from './domain/probe.js';

// ───────────────────────────── clock ─────────────────────────────

export interface Clock {
  /** Epoch milliseconds. Read once per invocation. */
  now(): number;
}

/** Waits `ms` milliseconds: real timers in production; tests pass one that moves a fake clock. */
export type Sleep = (ms: number) => Promise<void>;

/**
 * Resolves once `ms` have passed on the clock, or at once when `signal` aborts. Unlike a
 * test's Sleep it never moves a fake clock: the lease heartbeat and the bounded waits of a
 * pass run on it (real timers in production; a fake clock fires them as it is advanced).
 */
export type After = (ms: number, signal?: AbortSignal) => Promise<void>;

// ───────────────────────────── compute ─────────────────────────────

/**
 * Compute Engine, as warmer needs it. Every method throws `WarmerError` with a code from
 * the Compute Engine kinds (zone_stockout, quota_exceeded, rate_limited, already_exists,
 * not_found, permission_denied, operation_failed, transient); callers decide by code.
 */
export interface Compute {
  /** Inserts the machine and waits for the operation; a retried requestId is a no-op. */
  createMachine(req: CreateMachineRequest): Promise<Machine>;
  /** Deletes and waits; a machine that is already gone counts as done. */
  deleteMachine(zone: string, name: string, requestId?: string): Promise<void>;
  /** null when the machine does not exist. */
  getMachine(zone: string, name: string): Promise<Machine | null>;
  /** Every machine carrying all of the given labels, in every zone, every page. */
  listMachines(labels: Record<string, string>): Promise<Machine[]>;
  /** Merges the given labels into the machine's (retries when the fingerprint moved). */
  setLabels(zone: string, name: string, labels: Record<string, string>): Promise<void>;
  /**
   * Edits the machine's `ssh-keys` metadata: takes out `remove`, puts in `add`, keeps every
   * other entry and metadata item (instances.setMetadata with the metadata fingerprint;
   * retries when the fingerprint moved).
   */
  updateSshKeys(zone: string, name: string, change: { add: readonly string[]; remove: readonly string[] }): Promise<void>;
  /** CPUs: the quota metric `machineType` counts against (its family's, else CPUS); CPUS when omitted. */
  quotaHeadroom(region: string, machineType?: string): Promise<QuotaHeadroom>;
  /** A sole-tenant node group's nodes (total and used vCPUs and memory) and `machineType`'s shape. */
  nodeGroupPlacement(zone: string, nodeGroup: string, machineType: string): Promise<NodeGroupPlacement>;
}

// ───────────────────────────── prober ─────────────────────────────

export interface Prober {
  /** Never throws for an unreachable machine: the failure is the result. */
  probe(target: ProbeTarget): Promise<ProbeResult>;
  /** Probes many with bounded concurrency; results in the order of the targets. */
  probeMany(targets: ProbeTarget[], concurrency?: number): Promise<ProbeResult[]>;
}

// ───────────────────────────── messaging ─────────────────────────────

export interface Publisher {
  publishTeardown(message: TeardownMessage): Promise<void>;
  publishRefill(message: RefillMessage): Promise<void>;
}

// ───────────────────────────── store ─────────────────────────────

export interface PoolStore {
  getPool(name: string): Promise<Pool | null>;
  /**
   * The claim path's lookup, where a store may answer from a cache past its TTL
   * (`stale`): the claim then has its transaction verify the spec (ClaimRequest.poolVersion).
   */
  getPoolForClaim?(name: string): Promise<{ pool: Pool | null; stale: boolean }>;
  /** A claim's transaction found the stored spec of `name` still at `updatedAt`. */
  confirmPool?(name: string, updatedAt: number): void;
  listPools(): Promise<Pool[]>;
  /** Creates or replaces; returns whether it existed before. */
  putPool(name: string, spec: PoolSpec, now: number): Promise<{ created: boolean; pool: Pool }>;
}

export interface InstanceStore {
  get(name: string): Promise<InstanceRecord | null>;
  /**
   * Fails with `conflict` if the record exists. With `fence`: written only while the
   * fence's lease holds the record's pool (in the same transaction where the store can),
   * else fails with `precondition_failed` and writes nothing.
   */
  create(record: InstanceRecord, fence?: Fence): Promise<void>;
  /** Records of a pool, optionally only in the given states. */
  listByPool(pool: string, states?: readonly InstanceState[]): Promise<InstanceRecord[]>;
  /** Counts per state with aggregation queries (no hot counter document). */
  countByState(pool: string): Promise<Record<InstanceState, number>>;
  /**
   * Compare-and-set: applies `patch` and moves the record to `to` only if it is in one
   * of `from`. Returns the new record, or null if the record is missing or in another state.
   */
  transition(
    name: string,
    from: readonly InstanceState[],
    to: InstanceState,
    now: number,
    patch?: Partial<Omit<InstanceRecord, 'name' | 'pool' | 'state'>>,
  ): Promise<InstanceRecord | null>;
  /** Updates fields without a state change, only if the record is in one of `states`. */
  update(name: string, states: readonly InstanceState[], patch: Partial<Omit<InstanceRecord, 'name' | 'pool' | 'state'>>): Promise<InstanceRecord | null>;
  /** Moves `count` ready machines of the pool to claimed, all or nothing, idempotently. */
  claim(req: ClaimRequest): Promise<ClaimOutcome>;
  /**
   * Optional: starts reading the pool's claim candidates now, so that a claim about to
   * follow (once its pool spec is read) finds them read or on the way. Never throws.
   */
  prefetchCandidates?(pool: string): void;
  /** Resolves once no background read of the claim path is pending: before the client is closed. */
  drain?(): Promise<void>;
  /**
   * Claims served since `since` (from the claims' idempotency receipts, written in the
   * claim's own transaction: the status page's warm claims cost the claim path nothing).
   */
  claimsSince(since: number): Promise<ServedClaim[]>;
}

/**
 * Assignments: listing machines and changing a claimed machine's expiry, assignee and
 * access. Kept apart from InstanceStore (the claim path's store); both stores implement it.
 */
export interface AssignmentStore {
  /** Records matching the query, by name ascending, at most `limit`, after `after`. */
  list(query: InstanceQuery): Promise<InstancePage>;
  /**
   * In one transaction: the record replaced by `change(record)` (null from `change`: left
   * as it is). null when there is no record; else the record as it was and as written.
   */
  modify(name: string, change: (current: InstanceRecord) => InstanceRecord | null): Promise<{ before: InstanceRecord; after: InstanceRecord | null } | null>;
}

// ───────────────────────────── pool runtime (reconcile's own state) ─────────────────────────────

export interface PoolRuntimeStore {
  /** Takes the pool's lease if it is free or expired; false when another pass holds it. */
  acquireLease(pool: string, holder: string, now: number, ttlMs: number): Promise<boolean>;
  /** Frees the lease if `holder` still holds it. */
  releaseLease(pool: string, holder: string): Promise<void>;
  getRuntime(pool: string): Promise<PoolRuntime>;
  /** With `lease`: saved only while that lease (holder and generation) still holds; returns whether saved. */
  saveRuntime(pool: string, runtime: PoolRuntime, lease?: LeaseGrant): Promise<boolean | void>;
  /**
   * One transaction for a refill request or a pass (see claimPass in domain/pool-runtime.ts):
   * covered, busy (marks the pool dirty at most once), or the lease with a new generation.
   */
  claimPass(input: Omit<ClaimPassInput, 'sameHolderMayReacquire'>): Promise<PassClaim>;
  /** Extends the lease while `lease` still holds it; false when lost (the pass stops acting). */
  renewLease(lease: LeaseGrant, now: number, ttlMs: number): Promise<boolean>;
  /** The fence: whether `lease` still holds the pool's lease at `now` (one read). */
  checkLease(lease: LeaseGrant, now: number): Promise<boolean>;
  /**
   * Ends a pass: releases the lease, or keeps it (renewed) when the pool was marked dirty
   * since `lease.dirtySeq` and `mayRerun`: the pass then runs again from `dirtySeq`.
   */
  endPass(lease: LeaseGrant, now: number, ttlMs: number, mayRerun: boolean): Promise<{ outcome: 'released' | 'rerun' | 'lost'; dirtySeq: number }>;
  /** The whole document (lease, generation, dirty mark), for tests and the status page. */
  getRuntimeDoc(pool: string): Promise<PoolRuntimeDoc>;
}

/** A pass's fencing token, carried by the writes that must not outlive its lease. */
export type Fence = Pick<LeaseGrant, 'pool' | 'holder' | 'generation'> & { now: number };
