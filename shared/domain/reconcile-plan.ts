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
import type { Machine, MachineStatus } from './machine.js';
import { planInserts } from './reconcile-inserts.js';
import { enteredAt, type RecordPatch, type ReconcileInput, type ReconcilePlan, type TeardownReason } from './reconcile-types.js';
import { assessProbe } from './health.js';
import { fixedTargetReady } from './pool-spec.js';

export * from './reconcile-types.js';
export { quotaCapacity } from './reconcile-inserts.js';

/** Compute Engine states in which a booting or ready machine will never answer. */
const STOPPED_STATUSES: ReadonlySet<MachineStatus> = new Set<MachineStatus>(['STOPPING', 'STOPPED', 'SUSPENDING', 'SUSPENDED', 'TERMINATED']);

function addressPatch(record: InstanceRecord, machine: Machine): RecordPatch {
  const patch: RecordPatch = {};
  if (machine.ip !== null && machine.ip !== record.ip) patch.ip = machine.ip;
  if (machine.publicIp !== null && machine.publicIp !== record.publicIp) patch.publicIp = machine.publicIp;
  return patch;
}

export function planReconcile(input: ReconcileInput): ReconcilePlan {
  const { spec, now, settings } = input;
  const disabled = !spec.enabled;
  const bootTimeoutMs = spec.bootTimeoutSeconds * 1000;
  const maxIdleMs = spec.maxIdleAgeSeconds === null ? null : spec.maxIdleAgeSeconds * 1000;
  // Plain loops and arrays below, no per-record Map or Set: the simulator plans thousands
  // of passes of dozens of records each, and these were most of a pass's cost.
  const machines = new Map<string, Machine>();
  for (const m of input.machines) machines.set(m.name, m);
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

  /** The state each record (by its index in `records`) will be in once the plan is applied. */
  const after: InstanceState[] = new Array<InstanceState>(records.length);
  /** Ready records with no other action: candidates for over_target; their health writes wait. */
  const readyKept: Array<{ record: InstanceRecord; at: number; readyAt: number; health: HealthInfo | null }> = [];
  const retryCandidates: InstanceRecord[] = [];
  /** Distinct record names whose machine is listed (every listed machine has a record when it equals the listing's length). */
  let listedRecords = 0;

  // The actions on the record in hand (`r` at index `ri` below). Defined once, not per
  // record: a closure per record per pass is measurable in the simulator.
  let r = records[0] as InstanceRecord;
  let ri = 0;
  const teardown = (reason: TeardownReason) => {
    plan.teardowns.push({ name: r.name, from: r.state, reason });
    after[ri] = 'deleting';
  };
  const close = (reason: string) => {
    plan.closeRecords.push({ name: r.name, from: r.state, reason });
    after[ri] = 'deleted';
  };
  const transition = (to: InstanceState, reason: string, patch?: RecordPatch) => {
    plan.transitions.push(
      patch && Object.keys(patch).length > 0 ? { name: r.name, from: r.state, to, reason, patch } : { name: r.name, from: r.state, to, reason },
    );
    after[ri] = to;
  };

  for (ri = 0; ri < records.length; ri++) {
    r = records[ri] as InstanceRecord;
    const machine = machines.get(r.name);
    // Sorted by name, so a repeated name (never from the stores, which key records by name) is adjacent.
    if (machine && (ri === 0 || (records[ri - 1] as InstanceRecord).name !== r.name)) listedRecords++;
    after[ri] = r.state;
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
        else
          readyKept.push({
            record: r,
            at: ri,
            readyAt: enteredAt(r, 'ready'),
            health: assessment?.kind === 'health' && assessment.changed ? assessment.health : null,
          });
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
  // An unresolved `fill` target (placement unknown) holds the pool: no extras, no wants.
  const target = fixedTargetReady(spec);
  let readyAfter = 0;
  for (const st of after) if (st === 'ready') readyAfter++;
  const extra = target === null ? 0 : Math.max(0, readyAfter - target);
  const newestFirst = readyKept.length < 2 ? readyKept : [...readyKept].sort((a, b) => b.readyAt - a.readyAt || b.record.name.localeCompare(a.record.name));
  newestFirst.forEach(({ record, at, health }, i) => {
    if (i < extra) {
      plan.teardowns.push({ name: record.name, from: 'ready', reason: 'over_target' });
      after[at] = 'deleting';
    } else if (health !== null) {
      plan.healthUpdates.push({ name: record.name, state: 'ready', health });
    }
  });

  // Orphans: labelled machines with no record. They take capacity until deleted; they are
  // deleted only past the grace period, and never when their age is unknown.
  let unrecorded: Machine[] = [];
  if (listedRecords !== input.machines.length) {
    const recorded = new Set(records.map((x) => x.name));
    unrecorded = input.machines.filter((m) => !recorded.has(m.name)).sort((a, b) => a.name.localeCompare(b.name));
  }
  for (const m of unrecorded) {
    if (m.createdAt !== null && now - m.createdAt >= settings.orphanGraceMs) plan.orphans.push({ name: m.name, zone: m.zone });
  }

  // Counts. Capacity counts every record as it is now (a teardown or close is not done
  // until it is done); target counts what will be warm after this plan.
  const counts = { creating: 0, booting: 0, ready: 0, claimed: 0 };
  for (const st of after) if (st === 'creating' || st === 'booting' || st === 'ready' || st === 'claimed') counts[st]++;
  let occupied = unrecorded.length;
  for (const x of records) if (LIVE_STATES.includes(x.state)) occupied++;
  const warm = counts.creating + counts.booting + counts.ready;
  const want = disabled || target === null ? 0 : Math.max(0, target - warm);
  plan.counts = {
    creating: counts.creating,
    booting: counts.booting,
    ready: counts.ready,
    claimed: counts.claimed,
    occupied,
    unrecordedMachines: unrecorded.length,
    want,
  };

  planInserts(input, plan, { want, occupied, retryCandidates, after, records });
  return plan;
}
