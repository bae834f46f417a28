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
import { DEFAULT_RECONCILE_SETTINGS } from '../domain/reconcile-plan.js';
import type { Random } from '../domain/candidates.js';
import type { Logger } from '../logging.js';
import type { HistoryStore } from '../history.js';
import type { Clock, Compute, InstanceStore, PoolRuntimeStore, PoolStore, Prober, Publisher, Sleep } from '../ports.js';
import { applyCloses, applyTeardowns, applyTransitions, deleteOrphans, summarizePlan } from './reconcile-apply.js';
import { applyCreates } from './reconcile-create.js';
import { probeRecords } from './reconcile-probe.js';
import { planWithQuota } from './reconcile-quota.js';
import { syncClaimLabels } from './claim-labels.js';

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
  /** Identifies this process's leases. */
  holder?: string;
  /** Machines becoming ready with their boot time, for the status page (best effort; optional). */
  history?: HistoryStore;
  /** How refill requests wait (for the lease, between boot-watch probes). Default: real timers. */
  sleep?: Sleep;
  /** Jitter of those waits. Default: Math.random. */
  random?: Random;
}

export interface PassSummary {
  pool: string;
  outcome: 'done' | 'skipped_lease' | 'no_pool' | 'inventory_failed' | 'error';
  created: number;
  createFailed: number;
  tornDown: number;
  orphansDeleted: number;
  recordsClosed: number;
  madeReady: number;
  madeUnhealthy: number;
  durationMs: number;
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

/** Reconciles one pool; never throws (the summary says what happened). */
export async function reconcilePool(deps: ReconcileDeps, poolName: string): Promise<PassSummary> {
  const started = deps.clock.now();
  const holder = deps.holder ?? `pass-${randomUUID()}`;
  const log = deps.logger.child({ pool: poolName });
  let acquired = false;
  try {
    acquired = await deps.runtime.acquireLease(poolName, holder, started, deps.settings.leaseMs);
    if (!acquired) {
      log.info('reconcile skipped: another pass holds the lease');
      return emptySummary(poolName, 'skipped_lease');
    }
    const pool = await deps.pools.getPool(poolName);
    if (!pool) return emptySummary(poolName, 'no_pool');
    const summary = await runPass(deps, pool, started, log);
    summary.durationMs = deps.clock.now() - started;
    log.info('reconcile pass', { ...summary });
    return summary;
  } catch (err) {
    log.error('reconcile pass failed', {}, err);
    return { ...emptySummary(poolName, 'error'), error: (err as Error).message, durationMs: deps.clock.now() - started };
  } finally {
    if (acquired) await deps.runtime.releaseLease(poolName, holder).catch((err) => log.warn('lease not released', {}, err));
  }
}

async function runPass(deps: ReconcileDeps, pool: Pool, now: number, log: Logger): Promise<PassSummary> {
  const { spec } = pool;
  const summary = emptySummary(pool.name, 'done');

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
    return { ...summary, outcome: 'inventory_failed', error: (err as Error).message };
  }
  const stored = await deps.runtime.getRuntime(pool.name);
  // A new image or machine type gets a closed breaker (a PUT that fixes the image).
  const runtime = { ...stored, breaker: breakerForSpec(stored.breaker, spec) };
  if (stored.breaker.openUntil !== null && runtime.breaker.openUntil === null) log.notice('pool breaker reset: image or machine type changed');

  // 2. Probe booting and ready machines that have an address.
  const { probes, probedAt } = await probeRecords(deps, spec, records, runtime.probedAt ?? {}, now);

  // 3. Decide. Quota (every region of the pool's zones; unknown → null) is read only
  // when the plan wants to insert.
  const plan = await planWithQuota(deps, spec, log, {
    pool: pool.name,
    spec,
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
  if (deps.settings.dryRun) {
    log.notice('dry run: plan not applied', { plan: summarizePlan(plan) });
    return summary;
  }

  // 4. Act.
  await applyTransitions(deps, plan, now, summary);
  await applyTeardowns(deps, pool.name, plan, now, summary, log);
  await applyCloses(deps, plan, now, summary);
  await deleteOrphans(deps, plan, summary, log);
  // The breaker judges the image, not just the insert: a machine that reached ready is a
  // success; insert errors and boot timeouts are failures (a bad image often inserts fine
  // and never boots).
  const bootFailures = plan.teardowns.filter((t) => t.reason === 'boot_timeout').length +
    plan.transitions.filter((t) => t.to === 'failed').length;
  // Ready since the last pass counts too (a refill's boot watch makes machines ready between passes).
  const ready = summary.madeReady + readiedSince(records, stored.lastPass?.startedAt ?? Infinity);
  const nextRuntime = await applyCreates(deps, pool, plan, runtime, now, summary, log, { ready, bootFailures });
  await syncClaimLabels(deps, records, machines, log);

  nextRuntime.probedAt = probedAt;
  nextRuntime.lastPass = {
    startedAt: now,
    durationMs: deps.clock.now() - now,
    created: summary.created,
    tornDown: summary.tornDown,
    orphansDeleted: summary.orphansDeleted,
    error: null,
  };
  await deps.runtime.saveRuntime(pool.name, nextRuntime);
  return summary;
}
