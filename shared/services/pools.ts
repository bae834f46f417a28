/**
 * Pool administration: specs are data (changing one needs no redeploy), live counts
 * come from count() queries, never from a counter document.
 */
import { WarmerError } from '../errors.js';
import { INSTANCE_STATES, type InstanceState } from '../domain/instance.js';
import { parsePoolSpec, type Pool } from '../domain/pool-spec.js';
import type { StoredDecision } from '../sizing-store.js';
import type { ApiDeps } from './deps.js';

export interface PoolStatus {
  pool: Pool;
  counts: Record<InstanceState, number>;
  /** Machines of the pool in any live state (what maxSize caps). */
  total: number;
  /** A sized pool's last computed target and why (null: fixed pool, none yet, or unreadable). */
  sizing: StoredDecision | null;
}

/** The last sizing decision of a pool with a `sizing` block; best effort (null when unreadable). */
export async function sizingDecision(deps: ApiDeps, pool: Pool): Promise<StoredDecision | null> {
  if (!pool.spec.sizing || !deps.sizing) return null;
  try {
    return await deps.sizing.decision(pool.name);
  } catch (err) {
    deps.logger.warn('sizing decision not read', { pool: pool.name }, err);
    return null;
  }
}

const live = (counts: Record<InstanceState, number>) => INSTANCE_STATES.filter((s) => s !== 'deleted').reduce((sum, s) => sum + counts[s], 0);

export async function poolStatus(deps: ApiDeps, name: string): Promise<PoolStatus> {
  const pool = await deps.pools.getPool(name);
  if (!pool) throw new WarmerError('not_found', `pool "${name}" does not exist`);
  const [counts, sizing] = await Promise.all([deps.instances.countByState(name), sizingDecision(deps, pool)]);
  return { pool, counts, total: live(counts), sizing };
}

export async function listPoolStatuses(deps: ApiDeps): Promise<PoolStatus[]> {
  const pools = await deps.pools.listPools();
  return Promise.all(
    pools.map(async (pool) => {
      const [counts, sizing] = await Promise.all([deps.instances.countByState(pool.name), sizingDecision(deps, pool)]);
      return { pool, counts, total: live(counts), sizing };
    }),
  );
}

/** Creates or replaces a pool; 400 lists every problem of the spec. */
export async function putPool(deps: ApiDeps, name: string, input: unknown): Promise<{ created: boolean; pool: Pool }> {
  const parsed = parsePoolSpec(input);
  if (!parsed.ok) throw new WarmerError('bad_request', `invalid pool spec for "${name}"`, { details: parsed.problems });
  const result = await deps.pools.putPool(name, parsed.spec, deps.clock.now());
  deps.logger.notice(result.created ? 'pool created' : 'pool updated', {
    pool: name,
    targetReady: parsed.spec.targetReady,
    maxSize: parsed.spec.maxSize,
    enabled: parsed.spec.enabled,
  });
  try {
    await deps.publisher.publishRefill({ pool: name, reason: 'spec_changed' });
  } catch (err) {
    deps.logger.warn('refill request not published', { pool: name }, err);
  }
  return result;
}

/** Disables a pool: it serves no claims; reconcile drains its idle machines; claimed ones stay until released. */
export async function disablePool(deps: ApiDeps, name: string): Promise<Pool> {
  const pool = await deps.pools.getPool(name);
  if (!pool) throw new WarmerError('not_found', `pool "${name}" does not exist`);
  const { pool: updated } = await deps.pools.putPool(name, { ...pool.spec, enabled: false }, deps.clock.now());
  deps.logger.notice('pool disabled', { pool: name });
  try {
    await deps.publisher.publishRefill({ pool: name, reason: 'disabled' });
  } catch (err) {
    deps.logger.warn('refill request not published', { pool: name }, err);
  }
  return updated;
}

export interface SystemStatus {
  pools: number;
  enabledPools: number;
  counts: Record<InstanceState, number>;
  perPool: Array<{ name: string; enabled: boolean; targetReady: number | 'fill'; maxSize: number; counts: Record<InstanceState, number> }>;
}

export async function systemStatus(deps: ApiDeps): Promise<SystemStatus> {
  const statuses = await listPoolStatuses(deps);
  const counts = Object.fromEntries(INSTANCE_STATES.map((s) => [s, 0])) as Record<InstanceState, number>;
  for (const st of statuses) for (const s of INSTANCE_STATES) counts[s] += st.counts[s];
  return {
    pools: statuses.length,
    enabledPools: statuses.filter((s) => s.pool.spec.enabled).length,
    counts,
    perPool: statuses.map((s) => ({
      name: s.pool.name,
      enabled: s.pool.spec.enabled,
      targetReady: s.pool.spec.targetReady,
      maxSize: s.pool.spec.maxSize,
      counts: s.counts,
    })),
  };
}
