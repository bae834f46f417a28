/** Quota in a reconcile pass: the headroom of every region the pool's zones are in. */
import type { QuotaHeadroom } from '../domain/machine.js';
import { regionOfZone, type PoolSpec } from '../domain/pool-spec.js';
import type { Logger } from '../logging.js';
import type { ReconcileDeps } from './reconcile.js';

/** The tightest headroom over the pool's regions; null when a read failed (create nothing). */
export async function readQuota(deps: ReconcileDeps, spec: PoolSpec, log: Logger): Promise<QuotaHeadroom | null> {
  const regions = [...new Set(spec.zones.map(regionOfZone))];
  try {
    const all = await Promise.all(regions.map((r) => deps.compute.quotaHeadroom(r)));
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
