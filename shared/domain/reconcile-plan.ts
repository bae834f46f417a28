/**
 * The reconcile decision for one pool: a pure function of the spec, the records, what
 * Compute Engine reported, this pass's probes and `now`. The service observes, calls
 * `planReconcile`, then acts on the plan (each record move is a compare-and-set, so an
 * overlapping or repeated pass cannot apply anything twice).
 *
 * Preconditions the caller guarantees:
 * - `machines` is complete (a failed or partial listing stops the pass before planning);
 * - `records` were read BEFORE `machines` were listed. A record is written before its
 *   machine is inserted and moves to booting only after the insert returned, so with
 *   that order a booting/ready/… record whose machine is not listed really lost it, and
 *   a listed machine without a record is either an orphan or younger than the grace.
 *
 * Each record gets at most one action per pass (one list), so acting on a plan never
 * races with itself.
 */
import { LIVE_STATES, type HealthInfo, type InstanceRecord, type InstanceState } from './instance.js';
import { cpusOf, type PoolSpec } from './pool-spec.js';
import type { Machine, MachineStatus, QuotaHeadroom } from './machine.js';
import type { ProbeResult } from './probe.js';
import { breakerCreateLimit, breakerPhase, probeInFlight, type BreakerState } from './breaker.js';
import { assessProbe } from './health.js';

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

/** Compute Engine states in which a booting or ready machine will never answer. */
const STOPPED_STATUSES: ReadonlySet<MachineStatus> = new Set<MachineStatus>(['STOPPING', 'STOPPED', 'SUSPENDING', 'SUSPENDED', 'TERMINATED']);

/** States whose machines spread creations over zones (what serves or will serve claims). */
const SPREAD_STATES: ReadonlySet<InstanceState> = new Set<InstanceState>(['creating', 'booting', 'ready', 'claimed']);

/** When the record entered `state`, falling back to its creation. */
export function enteredAt(record: InstanceRecord, state: InstanceState): number {
  return record.stateChangedAt[state] ?? record.createdAt;
}

function addressPatch(record: InstanceRecord, machine: Machine): RecordPatch {
  const patch: RecordPatch = {};
  if (machine.ip !== null && machine.ip !== record.ip) patch.ip = machine.ip;
  if (machine.publicIp !== null && machine.publicIp !== record.publicIp) patch.publicIp = machine.publicIp;
  return patch;
}

/** Whole machines the quota headroom allows; 0 when the quota is unknown. */
export function quotaCapacity(quota: QuotaHeadroom | null, spec: PoolSpec): number {
  if (quota === null) return 0;
  const caps = [quota.instances, quota.cpus / cpusOf(spec)];
  if (spec.publicIp) caps.push(quota.inUseAddresses);
  return Math.max(0, Math.floor(Math.min(...caps)));
}

export function planReconcile(input: ReconcileInput): ReconcilePlan {
  const { spec, now, settings } = input;
  const disabled = !spec.enabled;
  const bootTimeoutMs = spec.bootTimeoutSeconds * 1000;
  const maxIdleMs = spec.maxIdleAgeSeconds === null ? null : spec.maxIdleAgeSeconds * 1000;
  const machines = new Map(input.machines.map((m) => [m.name, m]));
  const records = [...input.records].sort((a, b) => a.name.localeCompare(b.name));

  const plan: ReconcilePlan = {
    transitions: [],
    healthUpdates: [],
    teardowns: [],
    republish: [],
    creates: [],
    orphans: [],
    closeRecords: [],
    retryCreates: [],
    events: [],
    counts: { creating: 0, booting: 0, ready: 0, claimed: 0, occupied: 0, unrecordedMachines: 0, want: 0 },
  };

  /** The state each record will be in once the plan is applied. */
  const after = new Map<string, InstanceState>();
  /** Ready records with no other action: candidates for over_target; their health writes wait. */
  const readyKept: Array<{ record: InstanceRecord; health: HealthInfo | null }> = [];
  const retryCandidates: InstanceRecord[] = [];

  for (const r of records) {
    const machine = machines.get(r.name);
    after.set(r.name, r.state);
    const teardown = (reason: TeardownReason) => {
      plan.teardowns.push({ name: r.name, from: r.state, reason });
      after.set(r.name, 'deleting');
    };
    const close = (reason: string) => {
      plan.closeRecords.push({ name: r.name, from: r.state, reason });
      after.set(r.name, 'deleted');
    };
    const transition = (to: InstanceState, reason: string, patch?: RecordPatch) => {
      plan.transitions.push(
        patch && Object.keys(patch).length > 0 ? { name: r.name, from: r.state, to, reason, patch } : { name: r.name, from: r.state, to, reason },
      );
      after.set(r.name, to);
    };
    const probe = input.probes.get(r.name);
    const assessment = probe ? assessProbe(r, probe, spec, now) : null;

    switch (r.state) {
      case 'deleting': {
        if (!machine) close('machine_gone');
        else if (now - enteredAt(r, 'deleting') >= settings.deletingStuckMs) plan.republish.push({ name: r.name, reason: 'deleting_stuck' });
        break;
      }
      case 'creating': {
        if (disabled) {
          teardown('pool_disabled');
          break;
        }
        if (machine) {
          transition('booting', 'machine_exists', addressPatch(r, machine));
          break;
        }
        const age = now - enteredAt(r, 'creating');
        if (age < settings.creatingStuckMs) break; // the insert may still be in flight
        if (age >= bootTimeoutMs) transition('failed', 'create_timeout', { reason: 'create_timeout' });
        else retryCandidates.push(r);
        break;
      }
      case 'booting': {
        if (!machine) close('machine_gone');
        else if (STOPPED_STATUSES.has(machine.status)) teardown('machine_stopped');
        else if (disabled) teardown('pool_disabled');
        else if (assessment?.kind === 'ready') transition('ready', 'probe_ok', { health: assessment.health, ...addressPatch(r, machine) });
        else if (now - enteredAt(r, 'booting') >= bootTimeoutMs) teardown('boot_timeout');
        else if (assessment?.kind === 'health' && assessment.changed) plan.healthUpdates.push({ name: r.name, state: r.state, health: assessment.health });
        break;
      }
      case 'ready': {
        if (!machine) close('machine_gone');
        else if (STOPPED_STATUSES.has(machine.status)) teardown('machine_stopped');
        else if (disabled) teardown('pool_disabled');
        else if (maxIdleMs !== null && now - enteredAt(r, 'ready') >= maxIdleMs) teardown('max_idle_age');
        else if (assessment?.kind === 'unhealthy') transition('unhealthy', 'probe_failures', { health: assessment.health, reason: 'probe_failures' });
        else readyKept.push({ record: r, health: assessment?.kind === 'health' && assessment.changed ? assessment.health : null });
        break;
      }
      case 'claimed': {
        if (!machine) {
          close('machine_gone');
          plan.events.push({
            severity: 'WARNING',
            message: 'claimed machine is gone',
            fields: { pool: input.pool, instance: r.name, assignee: r.claim?.assignee ?? null },
          });
        } else if (r.claim?.expiresAt != null && now >= r.claim.expiresAt) {
          teardown('claim_expired');
        } else if (assessment?.kind === 'report') {
          plan.healthUpdates.push({ name: r.name, state: r.state, health: assessment.health });
          plan.events.push({
            severity: 'WARNING',
            message: 'claimed machine failing probes',
            fields: {
              pool: input.pool,
              instance: r.name,
              assignee: r.claim?.assignee ?? null,
              failures: assessment.health.consecutiveFailures,
              error: assessment.health.lastError,
            },
          });
        } else if (assessment?.kind === 'health' && assessment.changed) {
          plan.healthUpdates.push({ name: r.name, state: r.state, health: assessment.health });
        }
        break;
      }
      case 'unhealthy':
      case 'failed': {
        if (!machine) close('machine_gone');
        else teardown(disabled ? 'pool_disabled' : r.state);
        break;
      }
      case 'deleted':
        break;
    }
  }

  // Over target: tear down the newest extra ready machines, never going below target.
  const readyAfter = [...after.values()].filter((s) => s === 'ready').length;
  const extra = Math.max(0, readyAfter - spec.targetReady);
  const newestFirst = [...readyKept].sort((a, b) => enteredAt(b.record, 'ready') - enteredAt(a.record, 'ready') || b.record.name.localeCompare(a.record.name));
  newestFirst.forEach(({ record, health }, i) => {
    if (i < extra) {
      plan.teardowns.push({ name: record.name, from: 'ready', reason: 'over_target' });
      after.set(record.name, 'deleting');
    } else if (health !== null) {
      plan.healthUpdates.push({ name: record.name, state: 'ready', health });
    }
  });

  // Orphans: labelled machines with no record. They take capacity until deleted; they are
  // deleted only past the grace period, and never when their age is unknown.
  const recorded = new Set(records.map((r) => r.name));
  const unrecorded = input.machines.filter((m) => !recorded.has(m.name)).sort((a, b) => a.name.localeCompare(b.name));
  for (const m of unrecorded) {
    if (m.createdAt !== null && now - m.createdAt >= settings.orphanGraceMs) plan.orphans.push({ name: m.name, zone: m.zone });
  }

  // Counts. Capacity counts every record as it is now (a teardown or close is not done
  // until it is done); target counts what will be warm after this plan.
  const afterStates = [...after.values()];
  const count = (s: InstanceState) => afterStates.filter((x) => x === s).length;
  const occupied = records.filter((r) => LIVE_STATES.includes(r.state)).length + unrecorded.length;
  const warm = count('creating') + count('booting') + count('ready');
  const want = disabled ? 0 : Math.max(0, spec.targetReady - warm);
  plan.counts = {
    creating: count('creating'),
    booting: count('booting'),
    ready: count('ready'),
    claimed: count('claimed'),
    occupied,
    unrecordedMachines: unrecorded.length,
    want,
  };

  // Inserts: retries of stuck creates first (their records already count), then new ones.
  const fields = { pool: input.pool };
  const coldUntil = (zone: string) => input.coldZones[zone] ?? 0;
  const warmZones = spec.zones.filter((z) => coldUntil(z) <= now);
  const phase = breakerPhase(input.breaker, now);
  const quotaCap = quotaCapacity(input.quota, spec);
  const insertBudget = disabled || spec.paused ? 0 : Math.min(quotaCap, spec.createThrottle, breakerCreateLimit(input.breaker, now));
  const wantsInserts = want > 0 || retryCandidates.length > 0;

  const retriable = retryCandidates
    .filter((r) => coldUntil(r.zone) <= now)
    .sort((a, b) => enteredAt(a, 'creating') - enteredAt(b, 'creating') || a.name.localeCompare(b.name));
  for (const r of retriable.slice(0, insertBudget)) plan.retryCreates.push({ name: r.name, zone: r.zone });

  const capacity = Math.max(0, spec.maxSize - occupied);
  const budgetLeft = insertBudget - plan.retryCreates.length;
  let creates = Math.min(want, capacity, budgetLeft);

  if (wantsInserts && !disabled) {
    if (spec.paused) plan.events.push({ severity: 'INFO', message: 'pool paused: creating nothing', fields: { ...fields, want } });
    if (phase === 'open') {
      plan.events.push({
        severity: 'WARNING',
        message: 'pool breaker open',
        fields: { ...fields, want, openUntil: input.breaker.openUntil, consecutiveFailures: input.breaker.consecutiveFailures },
      });
    } else if (phase === 'half_open' && probeInFlight(input.breaker, now)) {
      plan.events.push({ severity: 'INFO', message: 'pool breaker half-open: probe in flight', fields: { ...fields, probeUntil: input.breaker.probeUntil } });
    } else if (phase === 'half_open') {
      plan.events.push({
        severity: 'INFO',
        message: 'pool breaker half-open: one creation',
        fields: { ...fields, consecutiveFailures: input.breaker.consecutiveFailures },
      });
    }
    if (input.quota === null) plan.events.push({ severity: 'WARNING', message: 'quota unknown: creating nothing this pass', fields: { ...fields, want } });
  }
  if (want > 0 && !spec.paused) {
    if (capacity < want)
      plan.events.push({ severity: 'WARNING', message: 'create capped by maxSize', fields: { ...fields, want, maxSize: spec.maxSize, occupied } });
    if (input.quota !== null && quotaCap - plan.retryCreates.length < want) {
      plan.events.push({ severity: 'ERROR', message: 'create capped by quota', fields: { ...fields, want, headroom: quotaCap, quota: input.quota } });
    }
    if (spec.createThrottle < want)
      plan.events.push({ severity: 'INFO', message: 'create capped by throttle', fields: { ...fields, want, createThrottle: spec.createThrottle } });
  }
  if (creates > 0 && warmZones.length === 0) {
    plan.events.push({ severity: 'WARNING', message: 'every zone is cold: creating nothing', fields: { ...fields, want, coldZones: input.coldZones } });
    creates = 0;
  }

  // Zone spread: each new machine goes to the warm zone with the fewest machines serving
  // or about to serve (creating, booting, ready, claimed); ties go by the spec's order.
  const perZone = new Map(warmZones.map((z) => [z, 0]));
  for (const r of records) {
    const s = after.get(r.name);
    if (s !== undefined && SPREAD_STATES.has(s) && perZone.has(r.zone)) perZone.set(r.zone, (perZone.get(r.zone) ?? 0) + 1);
  }
  for (let i = 0; i < creates; i++) {
    let best = warmZones[0] as string;
    for (const z of warmZones) if ((perZone.get(z) ?? 0) < (perZone.get(best) ?? 0)) best = z;
    plan.creates.push({ zone: best });
    perZone.set(best, (perZone.get(best) ?? 0) + 1);
  }

  return plan;
}
