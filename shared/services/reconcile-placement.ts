/**
 * Placement in a reconcile pass, for pools on a sole-tenant node group: read what fits on
 * the group's nodes now (Compute Engine: nodes, node types, the instances on them), and
 * resolve a `targetReady: 'fill'` into a number before planning. Kept apart from the
 * pass control so another target resolution (demand sizing) composes with it: each takes
 * a spec and returns one with a numeric target.
 */
import type { InstanceRecord } from '../domain/instance.js';
import type { Machine } from '../domain/machine.js';
import { fillTarget, machinesThatFit, pendingInserts, type PlacementCapacity } from '../domain/placement.js';
import type { PoolSpec } from '../domain/pool-spec.js';
import type { Logger } from '../logging.js';
import type { ReconcileDeps } from './reconcile-deps.js';

/** undefined: the pool has no placement. null: the read failed (the pass creates nothing on the group). */
export async function readPlacement(deps: Pick<ReconcileDeps, 'compute'>, spec: PoolSpec, log: Logger): Promise<PlacementCapacity | null | undefined> {
  if (spec.placement === null) return undefined;
  const zone = spec.zones[0]!;
  const { nodeGroup, reserve } = spec.placement;
  try {
    const { nodes, shape } = await deps.compute.nodeGroupPlacement(zone, nodeGroup, spec.machineType);
    return { nodeGroup, nodes: nodes.length, shape, fits: machinesThatFit(nodes, shape, reserve) };
  } catch (err) {
    log.warn('placement read failed; creating nothing on the node group this pass', { zone, nodeGroup }, err);
    return null;
  }
}

/** The spec with `fill` replaced by the number of machines to keep warm now (others unchanged). */
export function resolveFillTarget(spec: PoolSpec, placement: PlacementCapacity | null | undefined, records: InstanceRecord[], machines: Machine[]): PoolSpec {
  if (spec.targetReady !== 'fill') return spec;
  const warm = records.filter((r) => r.state === 'creating' || r.state === 'booting' || r.state === 'ready').length;
  const targetReady = fillTarget({ maxSize: spec.maxSize, warm, pending: pendingInserts(records, machines), placement: placement ?? null });
  return { ...spec, targetReady };
}
