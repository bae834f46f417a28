/**
 * Reconcile: keep every pool full and healthy. For each pool, under a short lease:
 *   1. observe its records and the machines carrying its label (a failed listing stops
 *      the pool's pass: a partial inventory must never cause over-creation or wrong deletes);
 *   2. probe booting and ready machines (bounded concurrency, short timeout; reconcile-probe.ts);
 *   3. decide with planReconcile, a pure function of (spec, records, observations, now);
 *   4. act: state changes as compare-and-set, teardowns as messages, orphans deleted
 *      (reconcile-apply.ts), creations with the record written first and zone fallback
 *      (reconcile-create.ts), claim labels (claim-labels.ts); cold zones and the breaker
 *      remembered.
 * One pool's failure never blocks another. This file holds the pass control: the lease,
 * reruns for refill requests, and one summary per call; a pass itself is reconcile-pass.ts
 * (steps 1–3 in reconcile-observe.ts), its settings and dependencies reconcile-deps.ts,
 * its summary pass-summary.ts.
 */
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { PassFence } from './pass-fence.js';
import { emptySummary, mergeSummaries, type PassSummary } from './pass-summary.js';
import type { ReconcileDeps } from './reconcile-deps.js';
import { runPass } from './reconcile-pass.js';

export { DEFAULT_SETTINGS, type ReconcileDeps, type ReconcileSettings } from './reconcile-deps.js';
export type { PassSummary } from './pass-summary.js';

export async function reconcileAll(deps: ReconcileDeps): Promise<PassSummary[]> {
  const pools = await deps.pools.listPools();
  const limit = pLimit(deps.settings.poolConcurrency);
  return Promise.all(pools.map((p) => limit(() => reconcilePool(deps, p.name))));
}

/**
 * Reconciles one pool; never throws (the summary says what happened). With `publishedAt`
 * (a refill request), a pass that started at or after it covers the request; a pass
 * running when it arrives is marked dirty and runs again before releasing the lease.
 * All of that is one transaction on the pool's runtime document.
 */
export async function reconcilePool(deps: ReconcileDeps, poolName: string, request: { publishedAt?: number | null } = {}): Promise<PassSummary> {
  const started = deps.clock.now();
  const holder = deps.holder ?? `pass-${randomUUID()}`;
  const log = deps.logger.child({ pool: poolName });
  const { leaseMs } = deps.settings;
  let fence: PassFence | null = null;
  let ended = false;
  let total: PassSummary | null = null;
  try {
    const claim = await deps.runtime.claimPass({ pool: poolName, holder, now: started, ttlMs: leaseMs, publishedAt: request.publishedAt ?? null });
    if (claim.kind === 'covered') return emptySummary(poolName, 'covered');
    if (claim.kind === 'busy') {
      // DEBUG: these grow with the claim rate; the running pass logs what it does.
      log.debug('reconcile skipped: another pass holds the lease', { dirtied: claim.dirtied });
      return { ...emptySummary(poolName, 'skipped_lease'), dirtied: claim.dirtied };
    }
    fence = new PassFence(deps, claim.lease, leaseMs);
    for (let run = 0; ; run++) {
      const pool = await deps.pools.getPool(poolName);
      if (!pool) return (total ??= emptySummary(poolName, 'no_pool'));
      const summary = await runPass(deps, pool, deps.clock.now(), log, fence);
      summary.durationMs = deps.clock.now() - started;
      total = total ? mergeSummaries(total, summary) : summary;
      log.info('reconcile pass', { ...summary, ...(run > 0 ? { rerun: run } : {}) });
      const lost = fence.lost;
      const end = await deps.runtime.endPass(fence.lease, deps.clock.now(), leaseMs, !lost && summary.outcome === 'done' && run < deps.settings.maxReruns);
      if (end.outcome !== 'rerun') {
        ended = true;
        if (lost || end.outcome === 'lost') total.outcome = 'lease_lost';
        return total;
      }
      // Refill requests came in during the pass (and were acknowledged): run again for them.
      await fence.stop();
      fence = new PassFence(deps, { ...fence.lease, dirtySeq: end.dirtySeq }, leaseMs);
      total.reruns = run + 1;
    }
  } catch (err) {
    log.error('reconcile pass failed', {}, err);
    return { ...(total ?? emptySummary(poolName, 'error')), outcome: 'error', error: (err as Error).message, durationMs: deps.clock.now() - started };
  } finally {
    if (fence) {
      await fence.stop();
      if (!ended) await deps.runtime.endPass(fence.lease, deps.clock.now(), leaseMs, false).catch((err) => log.warn('lease not released', {}, err));
    }
  }
}
