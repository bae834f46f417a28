/**
 * The inserts of a reconcile plan: retries of stuck creates, then new machines, capped by
 * want, maxSize, quota, the per-pass throttle and the breaker, spread over warm zones.
 * Called by planReconcile once every record has its action (pure, like it).
 */
import type { InstanceRecord, InstanceState } from './instance.js';
import { cpusOf } from './machine-limits.js';
import type { PoolSpec } from './pool-spec.js';
import type { QuotaHeadroom } from './machine.js';
import { breakerCreateLimit, breakerPhase, probeInFlight } from './breaker.js';
import { pendingInserts } from './placement.js';
import { enteredAt, type ReconcileInput, type ReconcilePlan } from './reconcile-types.js';

/** States whose machines spread creations over zones (what serves or will serve claims). */
const SPREAD_STATES: ReadonlySet<InstanceState> = new Set<InstanceState>(['creating', 'booting', 'ready', 'claimed']);

/** Whole machines the quota headroom allows; 0 when the quota is unknown. */
export function quotaCapacity(quota: QuotaHeadroom | null, spec: PoolSpec): number {
  if (quota === null) return 0;
  const caps = [quota.instances, quota.cpus / cpusOf(spec)];
  if (spec.publicIp) caps.push(quota.inUseAddresses);
  return Math.max(0, Math.floor(Math.min(...caps)));
}

/**
 * Whole machines the node group still has room for: what fits on its nodes now minus
 * inserts not on a node yet (so an insert that cannot be placed is never asked for).
 * Infinity without a placement; 0 when the read failed.
 */
export function placementCapacity(input: Pick<ReconcileInput, 'placement' | 'machines'>, records: InstanceRecord[]): number {
  if (input.placement === undefined) return Infinity;
  if (input.placement === null) return 0;
  return Math.max(0, input.placement.fits - pendingInserts(records, input.machines));
}

/** What planReconcile worked out before the inserts. */
export interface InsertContext {
  /** targetReady − warm (0 when disabled). */
  want: number;
  /** Everything taking capacity now (live records + unrecorded machines). */
  occupied: number;
  /** `creating` records stuck past creatingStuckMs, younger than the boot timeout. */
  retryCandidates: InstanceRecord[];
  /** The state each record (by its index in `records`) will be in once the plan is applied. */
  after: readonly InstanceState[];
  /** The pool's records, sorted by name. */
  records: InstanceRecord[];
}

/** Fills plan.retryCreates, plan.creates and the events that explain their caps. */
export function planInserts(input: ReconcileInput, plan: ReconcilePlan, ctx: InsertContext): void {
  const { spec, now } = input;
  const { want, occupied, retryCandidates, after, records } = ctx;
  const disabled = !spec.enabled;
  // Inserts: retries of stuck creates first (their records already count), then new ones.
  const fields = { pool: input.pool };
  const coldUntil = (zone: string) => input.coldZones[zone] ?? 0;
  const warmZones = spec.zones.filter((z) => coldUntil(z) <= now);
  const phase = breakerPhase(input.breaker, now);
  const quotaCap = quotaCapacity(input.quota, spec);
  const placementCap = placementCapacity(input, records);
  const insertBudget = disabled || spec.paused ? 0 : Math.min(quotaCap, placementCap, spec.createThrottle, breakerCreateLimit(input.breaker, now));
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
    if (input.placement === null)
      plan.events.push({ severity: 'WARNING', message: 'placement unknown: creating nothing this pass', fields: { ...fields, want } });
  }
  if (want > 0 && !spec.paused) {
    if (capacity < want)
      plan.events.push({ severity: 'WARNING', message: 'create capped by maxSize', fields: { ...fields, want, maxSize: spec.maxSize, occupied } });
    if (input.quota !== null && quotaCap - plan.retryCreates.length < want) {
      plan.events.push({ severity: 'ERROR', message: 'create capped by quota', fields: { ...fields, want, headroom: quotaCap, quota: input.quota } });
    }
    if (input.placement && placementCap - plan.retryCreates.length < want) {
      const { nodeGroup, fits, nodes } = input.placement;
      plan.events.push({
        severity: 'INFO',
        message: 'create capped by node group placement',
        fields: { ...fields, want, nodeGroup, fits, nodes, headroom: placementCap },
      });
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
  records.forEach((r, i) => {
    const s = after[i];
    if (s !== undefined && SPREAD_STATES.has(s) && perZone.has(r.zone)) perZone.set(r.zone, (perZone.get(r.zone) ?? 0) + 1);
  });
  for (let i = 0; i < creates; i++) {
    let best = warmZones[0] as string;
    for (const z of warmZones) if ((perZone.get(z) ?? 0) < (perZone.get(best) ?? 0)) best = z;
    plan.creates.push({ zone: best });
    perZone.set(best, (perZone.get(best) ?? 0) + 1);
  }
}
