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
 * One pool's failure never blocks another. This file holds the pass control.
 */
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { breakerForSpec, readiedSince } from '../domain/breaker.js';
import { LIVE_STATES, type InstanceRecord } from '../domain/instance.js';
import type { Machine } from '../domain/machine.js';
import type { Pool } from '../domain/pool-spec.js';
import { DEFAULT_RECONCILE_SETTINGS, type ReconcilePlan } from '../domain/reconcile-plan.js';
import type { Random } from '../domain/candidates.js';
import type { Logger } from '../logging.js';
import type { HistoryStore } from '../history.js';
import type { After, AssignmentStore, Clock, Compute, InstanceStore, PoolRuntimeStore, PoolStore, Prober, Publisher, Sleep } from '../ports.js';
import type { PoolRuntime } from '../domain/pool-runtime.js';
import { PassFence, realAfter, settlesWithin } from './pass-fence.js';
import { applyCloses, applyTeardowns, applyTransitions, deleteOrphans, summarizePlan } from './reconcile-apply.js';
import { applyCreates } from './reconcile-create.js';
import { probeRecords } from './reconcile-probe.js';
import { planWithQuota } from './reconcile-quota.js';
import { readPlacement, resolveFillTarget } from './reconcile-placement.js';
import { syncClaimLabels } from './claim-labels.js';
import { syncClaimAccess } from './claim-access.js';
import { sizePool } from './reconcile-sizing.js';
import type { SizingStore } from '../sizing-store.js';

export interface ReconcileSettings {
  orphanGraceMs: number;
  deletingStuckMs: number;
  creatingStuckMs: number;
  leaseMs: number;
  /** How long a stocked-out zone stays cold. */
  coldZoneMs: number;
  probeConcurrency: number;
  createConcurrency: number;
  /** Pools reconciled at once by reconcileAll (WARMER_POOL_CONCURRENCY). */
  poolConcurrency: number;
  /**
   * How long a pass waits for its deletes and creations before it ends anyway (they go on
   * in the background: a creation's record is already written, an orphan is deleted again
   * by the next pass). No hung operation holds a pool's lease longer than this.
   */
  actionWaitMs: number;
  /** A plan older than this when the pass is about to act is made again from a fresh inventory. */
  replanAfterMs: number;
  /** Passes run again under the same lease while refill requests marked the pool dirty, at most this often. */
  maxReruns: number;
  /** Probe rounds after a scheduled pass run until this long after the tick (probe-rounds.ts); 0: none. */
  probeRoundBudgetMs: number;
  /** Passphrase for per-machine keys; pools that issue them cannot create without it. */
  sshKeyPassphrase: string | null;
  dryRun: boolean;
}

export const DEFAULT_SETTINGS: ReconcileSettings = {
  ...DEFAULT_RECONCILE_SETTINGS,
  leaseMs: 120_000,
  coldZoneMs: 5 * 60_000,
  probeConcurrency: 64,
  createConcurrency: 10,
  poolConcurrency: 16,
  actionWaitMs: 60_000,
  replanAfterMs: 30_000,
  maxReruns: 5,
  probeRoundBudgetMs: 0,
  sshKeyPassphrase: null,
  dryRun: false,
};

export interface ReconcileDeps {
  pools: PoolStore;
  instances: InstanceStore;
  runtime: PoolRuntimeStore;
  compute: Compute;
  prober: Prober;
  publisher: Publisher;
  clock: Clock;
  logger: Logger;
  settings: ReconcileSettings;
  /** Where assignee access is marked applied (claim-access.ts); without it keys stay pending. */
  assignments?: AssignmentStore;
  /** Identifies this process's leases. */
  holder?: string;
  /** Machines becoming ready with their boot time, for the status page (best effort; optional). */
  history?: HistoryStore;
  /** Demand-sized pools' claim history and decisions (optional: without it pools plan with targetReady). */
  sizing?: SizingStore;
  /** How refill requests wait (for the lease, between boot-watch probes). Default: real timers. */
  sleep?: Sleep;
  /** Jitter of those waits. Default: Math.random. */
  random?: Random;
  /** The lease heartbeat's and the bounded waits' timer. Default: real timers. */
  after?: After;
}

export interface PassSummary {
  pool: string;
  /**
   * skipped_lease: another pass runs (it covers the request, or `dirtied` it so it runs
   * again); covered: a pass that started after the request already ran; lease_lost: the
   * lease was taken over mid-pass, so this pass stopped acting.
   */
  outcome: 'done' | 'skipped_lease' | 'covered' | 'no_pool' | 'inventory_failed' | 'lease_lost' | 'error';
  created: number;
  createFailed: number;
  tornDown: number;
  orphansDeleted: number;
  recordsClosed: number;
  madeReady: number;
  madeUnhealthy: number;
  durationMs: number;
  /** Passes run again under the same lease because refill requests came in meanwhile. */
  reruns?: number;
  /** skipped_lease: whether this request marked the running pass dirty. */
  dirtied?: boolean;
  /** Deletes or creations still running when the pass ended (bounded by actionWaitMs). */
  stillRunning?: number;
  error?: string;
}

const emptySummary = (pool: string, outcome: PassSummary['outcome']): PassSummary => ({
  pool,
  outcome,
  created: 0,
  createFailed: 0,
  tornDown: 0,
  orphansDeleted: 0,
  recordsClosed: 0,
  madeReady: 0,
  madeUnhealthy: 0,
  durationMs: 0,
});

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

function mergeSummaries(a: PassSummary, b: PassSummary): PassSummary {
  return {
    ...b,
    created: a.created + b.created,
    createFailed: a.createFailed + b.createFailed,
    tornDown: a.tornDown + b.tornDown,
    orphansDeleted: a.orphansDeleted + b.orphansDeleted,
    recordsClosed: a.recordsClosed + b.recordsClosed,
    madeReady: a.madeReady + b.madeReady,
    madeUnhealthy: a.madeUnhealthy + b.madeUnhealthy,
    reruns: a.reruns,
  };
}

async function runPass(deps: ReconcileDeps, pool: Pool, now: number, log: Logger, fence: PassFence): Promise<PassSummary> {
  const summary = emptySummary(pool.name, 'done');
  const after = deps.after ?? realAfter;

  // 1–3. Observe, probe, decide; again when that took so long the plan may be stale.
  let observed = await observeAndPlan(deps, pool, now, log, fence);
  if (deps.clock.now() - now > deps.settings.replanAfterMs && 'plan' in observed) {
    log.warn('plan stale after a long wait; planning again', { waitedMs: deps.clock.now() - now });
    now = deps.clock.now();
    observed = await observeAndPlan(deps, pool, now, log, fence);
  }
  if (!('plan' in observed)) return { ...summary, ...observed };
  const { plan, records, machines, runtime, probedAt, lastPassAt } = observed;
  if (deps.settings.dryRun) {
    log.notice('dry run: plan not applied', { plan: summarizePlan(plan) });
    return summary;
  }

  // 4. Act, only while the lease is ours (one read: the fence).
  if (!(await fence.check())) return { ...summary, outcome: 'lease_lost' };
  await applyTransitions(deps, plan, now, summary);
  // The breaker judges the image, not just the insert: a machine that reached ready is a
  // success; insert errors and boot timeouts are failures (a bad image often inserts fine
  // and never boots).
  const bootFailures = plan.teardowns.filter((t) => t.reason === 'boot_timeout').length + plan.transitions.filter((t) => t.to === 'failed').length;
  // Ready since the last pass counts too (a refill's boot watch makes machines ready between passes).
  const ready = summary.madeReady + readiedSince(records, lastPassAt ?? Infinity);
  // Removals and creations run side by side: a hung delete never holds up a creation
  // (maxSize still holds: a machine being deleted counts until it is gone). Every new
  // record is written under the fence; every delete checks it first.
  const removals = (async () => {
    if (!(await fence.check())) return;
    await applyTeardowns(deps, pool.name, plan, now, summary, log);
    await applyCloses(deps, plan, now, summary);
    await deleteOrphans(deps, plan, summary, log, () => fence.check());
  })();
  const creations = applyCreates(deps, pool, plan, runtime, now, summary, log, { ready, bootFailures }, fence);
  let nextRuntime = runtime;
  const waited = Promise.all([removals, creations.then((r) => (nextRuntime = r))]);
  waited.catch((err) => log.error('reconcile action failed', {}, err));
  if (!(await settlesWithin(waited, deps.settings.actionWaitMs, after))) {
    summary.stillRunning = Math.max(
      1,
      plan.orphans.length + plan.creates.length + plan.retryCreates.length - summary.orphansDeleted - summary.created - summary.createFailed,
    );
    log.warn('operations still running at the end of the pass; the next pass picks them up', {
      waitedMs: deps.settings.actionWaitMs,
      stillRunning: summary.stillRunning,
    });
  } else {
    await waited; // rethrows a failure of the actions themselves (the pass reports an error)
  }
  if (fence.lost) return { ...summary, outcome: 'lease_lost' };
  await syncClaimLabels(deps, records, machines, log);
  await syncClaimAccess(deps, records, machines, log);

  nextRuntime = { ...nextRuntime, probedAt };
  nextRuntime.lastPass = {
    startedAt: now,
    durationMs: deps.clock.now() - now,
    created: summary.created,
    tornDown: summary.tornDown,
    orphansDeleted: summary.orphansDeleted,
    error: null,
  };
  if (!(await deps.runtime.saveRuntime(pool.name, nextRuntime, fence.lease))) return { ...summary, outcome: 'lease_lost' };
  return summary;
}

type Observed =
  | { plan: ReconcilePlan; records: InstanceRecord[]; machines: Machine[]; runtime: PoolRuntime; probedAt: Record<string, number>; lastPassAt: number | null }
  | { outcome: 'inventory_failed'; error: string };

async function observeAndPlan(deps: ReconcileDeps, pool: Pool, now: number, log: Logger, fence: PassFence): Promise<Observed> {
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
