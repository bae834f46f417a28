/**
 * One reconcile pass over a pool already under its lease: observe and plan
 * (reconcile-observe.ts, again when the plan went stale), then act while the lease holds —
 * state changes, removals and creations side by side within a bounded wait, claim labels
 * and access — and save the pool's runtime (cold zones, breaker, last pass) under the
 * fence.
 */
import { readiedSince } from '../domain/breaker.js';
import type { Pool } from '../domain/pool-spec.js';
import type { Logger } from '../logging.js';
import { syncClaimAccess } from './claim-access.js';
import { syncClaimLabels } from './claim-labels.js';
import { type PassFence, realAfter, settlesWithin } from './pass-fence.js';
import { emptySummary, type PassSummary } from './pass-summary.js';
import { applyCloses, applyTeardowns, applyTransitions, deleteOrphans, summarizePlan } from './reconcile-apply.js';
import { applyCreates } from './reconcile-create.js';
import type { ReconcileDeps } from './reconcile-deps.js';
import { observeAndPlan } from './reconcile-observe.js';

export async function runPass(deps: ReconcileDeps, pool: Pool, now: number, log: Logger, fence: PassFence): Promise<PassSummary> {
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
