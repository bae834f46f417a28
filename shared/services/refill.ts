/**
 * Refill requests (from claims, teardowns, spec changes) and the scheduler's tick, as
 * the reconcile function receives them. Requests are coalesced, in ONE transaction on the
 * pool's runtime document (reconcilePool → claimPass):
 *   - a request that a pass started after its publication already covers is done;
 *   - a request that finds a pass running marks the pool dirty and is acknowledged at
 *     once: the running pass sees the mark before it releases its lease and runs again;
 *   - otherwise it takes the lease and runs the pass itself;
 *   - a pass that left machines booting watches them for a while (watchBooting), so a
 *     refill completes in about one boot time instead of waiting for the next tick;
 *   - the scheduler's tick then runs probe rounds until shortly before the next tick
 *     (probe-rounds.ts).
 * No request polls the lease or asks for redelivery because the pool is busy.
 * Time comes from the injected clock and sleep, so all of it runs on a fake clock in tests.
 */
import type { Sleep } from '../ports.js';
import { runScheduledProbeRounds } from './probe-rounds.js';
import { recordReady } from './reconcile-apply.js';
import { probeHealth } from './reconcile-probe.js';
import { reconcileAll, reconcilePool, type PassSummary, type ReconcileDeps } from './reconcile.js';

export interface RefillRequest {
  /** A pool, or "*" for every pool (the scheduler's tick). */
  pool: string;
  /** Epoch ms the request was published; null when unknown (never counted as covered). */
  publishedAt: number | null;
}

export interface BootWatch {
  /** How long a refill-triggered pass keeps watching its booting machines. */
  budgetMs: number;
  intervalMs: number;
  /** Ends the watch early (the local stack stopping). */
  signal?: AbortSignal;
}

export const DEFAULT_BOOT_WATCH: BootWatch = { budgetMs: 90_000, intervalMs: 1000 };

const timerSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What the reconcile function does with one message: the refill (handleRefill), then,
 * for the scheduler's tick (`pool: "*"`), the probe rounds until shortly before the next
 * tick. Returns the passes the refill ran, or null when another pass covers it.
 */
export async function handleReconcileRequest(
  deps: ReconcileDeps,
  req: RefillRequest,
  bootWatch: BootWatch = DEFAULT_BOOT_WATCH,
): Promise<PassSummary[] | null> {
  const out = await handleRefill(deps, req, bootWatch);
  if (req.pool === '*') await runScheduledProbeRounds(deps, req.publishedAt);
  return out;
}

/**
 * Handles one refill request. Returns the passes it ran, or null when another pass
 * covers it (one that already ran, or the running one, marked dirty when needed).
 */
export async function handleRefill(deps: ReconcileDeps, req: RefillRequest, bootWatch: BootWatch = DEFAULT_BOOT_WATCH): Promise<PassSummary[] | null> {
  if (req.pool === '*') return reconcileAll(deps);
  const summary = await reconcilePool(deps, req.pool, { publishedAt: req.publishedAt });
  if (summary.outcome === 'covered' || summary.outcome === 'skipped_lease') return null;
  if (summary.outcome === 'done' && bootWatch.budgetMs > 0) await watchBooting(deps, req.pool, bootWatch.budgetMs, bootWatch.intervalMs, bootWatch.signal);
  return [summary];
}

/**
 * After a pass that left machines booting, watch them for a while and make each ready on
 * its first good probe. Only compare-and-set transitions booting → ready: safe to run
 * without the lease, next to any other pass. Returns how many became ready.
 */
export async function watchBooting(deps: ReconcileDeps, poolName: string, budgetMs: number, intervalMs: number, signal?: AbortSignal): Promise<number> {
  const sleep = deps.sleep ?? timerSleep;
  const pool = await deps.pools.getPool(poolName);
  if (!pool) return 0;
  const { healthCheck } = pool.spec;
  const deadline = deps.clock.now() + budgetMs;
  let made = 0;
  while (!signal?.aborted) {
    const booting = (await deps.instances.listByPool(poolName, ['booting'])).filter((r) => r.ip);
    if (booting.length === 0) break;
    const results = await probeHealth(deps, healthCheck, booting);
    const now = deps.clock.now();
    await Promise.all(
      booting.map(async (r, i) => {
        if (!results[i]!.ok) return;
        const next = await deps.instances.transition(r.name, ['booting'], 'ready', now, {
          health: { consecutiveFailures: 0, lastProbeAt: now, lastError: null, ...(results[i]!.byAddress ? { byAddress: results[i]!.byAddress } : {}) },
        });
        if (next) {
          made++;
          await recordReady(deps, next, now);
        }
      }),
    );
    if (deps.clock.now() + intervalMs >= deadline) break;
    await sleep(intervalMs);
  }
  if (made > 0) deps.logger.info('machines ready', { pool: poolName, count: made });
  return made;
}
