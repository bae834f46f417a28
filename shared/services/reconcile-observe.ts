/**
 * Steps 1–3 of a reconcile pass: observe a pool (its live records, then the machines
 * carrying its label; a failed listing decides nothing), size it, probe its booting and
 * ready machines, read its placement and quota, and decide with planReconcile. The plan's
 * events are logged here.
 */
import { breakerForSpec } from '../domain/breaker.js';
import { LIVE_STATES, type InstanceRecord } from '../domain/instance.js';
import type { Machine } from '../domain/machine.js';
import type { PoolRuntime } from '../domain/pool-runtime.js';
import type { Pool } from '../domain/pool-spec.js';
import type { ReconcilePlan } from '../domain/reconcile-plan.js';
import type { Logger } from '../logging.js';
import type { PassFence } from './pass-fence.js';
import type { ReconcileDeps } from './reconcile-deps.js';
import { readPlacement, resolveFillTarget } from './reconcile-placement.js';
import { probeRecords } from './reconcile-probe.js';
import { planWithQuota } from './reconcile-quota.js';
import { sizePool } from './reconcile-sizing.js';

export type Observed =
  | { plan: ReconcilePlan; records: InstanceRecord[]; machines: Machine[]; runtime: PoolRuntime; probedAt: Record<string, number>; lastPassAt: number | null }
  | { outcome: 'inventory_failed'; error: string };

export async function observeAndPlan(deps: ReconcileDeps, pool: Pool, now: number, log: Logger, fence: PassFence): Promise<Observed> {
  // 1. Observe. Both listings must be complete, or nothing is decided.
  // Records are read BEFORE machines are listed: a machine created after the records
  // were read is then seen as an orphan younger than the grace period (left alone), never
  // as a record whose machine is gone.
  let records: InstanceRecord[];
  let machines: Machine[];
  try {
    records = await deps.instances.listByPool(pool.name, LIVE_STATES);
    machines = await deps.compute.listMachines({ 'warmer-pool': pool.name });
  } catch (err) {
    log.error('inventory failed; pass stopped for this pool', {}, err);
    return { outcome: 'inventory_failed', error: (err as Error).message };
  }
  // The target: spec.targetReady, or the one demand sizing computes now (reconcile-sizing.ts).
  const spec = await sizePool(deps, pool, records, now, fence.lease, log);
  const stored = await deps.runtime.getRuntime(pool.name);
  // A new image or machine type gets a closed breaker (a PUT that fixes the image).
  const runtime = { ...stored, breaker: breakerForSpec(stored.breaker, spec) };
  if (stored.breaker.openUntil !== null && runtime.breaker.openUntil === null) log.notice('pool breaker reset: image or machine type changed');

  // 2. Probe booting and ready machines that have an address.
  const { probes, probedAt } = await probeRecords(deps, spec, records, runtime.probedAt ?? {}, now);

  // 3. Decide. A dedicated-node pool's placement is read first (a `fill` target needs
  // it); quota (every region of the pool's zones; unknown → null) is read only when the
  // plan wants to insert.
  const placement = await readPlacement(deps, spec, log);
  const plan = await planWithQuota(deps, spec, log, {
    pool: pool.name,
    spec: resolveFillTarget(spec, placement, records, machines),
    ...(placement === undefined ? {} : { placement }),
    now,
    records,
    machines,
    probes,
    coldZones: runtime.coldZones,
    breaker: runtime.breaker,
    settings: {
      orphanGraceMs: deps.settings.orphanGraceMs,
      deletingStuckMs: deps.settings.deletingStuckMs,
      creatingStuckMs: deps.settings.creatingStuckMs,
    },
  });
  for (const e of plan.events) {
    const fields = { ...(e.fields ?? {}) };
    if (e.severity === 'ERROR') log.error(e.message, fields);
    else if (e.severity === 'WARNING') log.warn(e.message, fields);
    else log.info(e.message, fields);
  }
  return { plan, records, machines, runtime, probedAt, lastPassAt: stored.lastPass?.startedAt ?? null };
}
