/**
 * Quota in a reconcile pass: the headroom of every region the pool's zones are in, with
 * the CPU quota of the pool's machine family (N2_CPUS, …).
 */
import type { QuotaHeadroom } from '../domain/machine.js';
import { planReconcile, type ReconcileInput, type ReconcilePlan } from '../domain/reconcile-plan.js';
import type { PoolSpec } from '../domain/pool-spec.js';
import { regionOfZone } from '../domain/resource-path.js';
import type { Logger } from '../logging.js';
import type { ReconcileDeps } from './reconcile-deps.js';

/** The tightest headroom over the pool's regions; null when a read failed (create nothing). */
export async function readQuota(deps: ReconcileDeps, spec: PoolSpec, log: Logger): Promise<QuotaHeadroom | null> {
  const regions = [...new Set(spec.zones.map(regionOfZone))];
  try {
    const all = await Promise.all(regions.map((r) => deps.compute.quotaHeadroom(r, spec.machineType)));
    // Multi-region pools: the tightest region bounds this pass (conservative).
    return all.reduce((a, b) => ({
      region: a.region,
      cpus: Math.min(a.cpus, b.cpus),
      instances: Math.min(a.instances, b.instances),
      inUseAddresses: Math.min(a.inUseAddresses, b.inUseAddresses),
    }));
  } catch (err) {
    log.warn('quota read failed; creating nothing this pass', { regions }, err);
    return null;
  }
}

/** Headroom that caps nothing: for deciding whether the pass wants to insert at all. */
const UNBOUNDED: QuotaHeadroom = { region: '*', cpus: Infinity, instances: Infinity, inUseAddresses: Infinity };

/**
 * Plans the pass, reading the quota only when the plan would insert something (a full
 * pool costs no regions.get). Planning is pure, so planning twice is cheap; quota only
 * ever lowers the inserts, so a plan that inserts nothing unbounded is the real plan.
 */
export async function planWithQuota(deps: ReconcileDeps, spec: PoolSpec, log: Logger, input: Omit<ReconcileInput, 'quota'>): Promise<ReconcilePlan> {
  const unbounded = planReconcile({ ...input, quota: UNBOUNDED });
  if (unbounded.creates.length === 0 && unbounded.retryCreates.length === 0) return unbounded;
  return planReconcile({ ...input, quota: await readQuota(deps, spec, log) });
}
