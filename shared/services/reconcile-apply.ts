/**
 * Applying a reconcile plan (all but creations, see reconcile-create.ts): state changes
 * as compare-and-set, teardowns as messages, closed records, orphans deleted.
 */
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import type { InstanceRecord } from '../domain/instance.js';
import type { ReconcilePlan } from '../domain/reconcile-plan.js';
import { recordHistory } from '../history.js';
import type { Logger } from '../logging.js';
import type { PassSummary } from './pass-summary.js';
import type { ReconcileDeps } from './reconcile-deps.js';

/** The plan in a few fields, for the dry-run log. */
export function summarizePlan(plan: ReconcilePlan) {
  return {
    transitions: plan.transitions.length,
    teardowns: plan.teardowns.map((t) => `${t.name}:${t.reason}`),
    creates: plan.creates.map((c) => c.zone),
    orphans: plan.orphans.map((o) => o.name),
    closeRecords: plan.closeRecords.map((c) => c.name),
  };
}

export async function applyTransitions(deps: ReconcileDeps, plan: ReconcilePlan, now: number, summary: PassSummary) {
  const limit = pLimit(16);
  await Promise.all([
    ...plan.transitions.map((t) =>
      limit(async () => {
        const next = await deps.instances.transition(t.name, [t.from], t.to, now, (t.patch ?? {}) as Partial<InstanceRecord>);
        if (next && t.to === 'ready') {
          summary.madeReady++;
          await recordReady(deps, next, now);
        }
        if (next && t.to === 'unhealthy') summary.madeUnhealthy++;
      }),
    ),
    ...plan.healthUpdates.map((h) => limit(() => deps.instances.update(h.name, [h.state], { health: h.health }))),
  ]);
}

/** A machine that just became ready: its boot time (ready − created) goes to the history. */
export async function recordReady(deps: ReconcileDeps, r: InstanceRecord, now: number): Promise<void> {
  const readyAt = r.stateChangedAt.ready ?? now;
  // The time-to-ready log-based metric (deploy/monitoring.ts) extracts durationMs from this line.
  deps.logger.info('machine ready', { pool: r.pool, instance: r.name, durationMs: Math.max(0, readyAt - r.createdAt) });
  await recordHistory(deps.history, deps.logger, {
    type: 'ready',
    pool: r.pool,
    at: readyAt,
    instance: r.name,
    durationMs: Math.max(0, readyAt - r.createdAt),
  });
}

export async function applyTeardowns(deps: ReconcileDeps, poolName: string, plan: ReconcilePlan, now: number, summary: PassSummary, log: Logger) {
  const limit = pLimit(16);
  await Promise.all(
    plan.teardowns.map((t) =>
      limit(async () => {
        const next = await deps.instances.transition(t.name, [t.from], 'deleting', now, { reason: t.reason, deleteRequestId: randomUUID() });
        if (!next) return; // moved meanwhile (claimed, released): the compare-and-set protects it
        summary.tornDown++;
        await publishTeardown(deps, next.name, next.pool, t.reason, log);
      }),
    ),
  );
  await Promise.all(plan.republish.map((r) => limit(() => publishTeardown(deps, r.name, poolName, r.reason, log))));
}

async function publishTeardown(deps: ReconcileDeps, name: string, pool: string, reason: string, log: Logger) {
  try {
    await deps.publisher.publishTeardown({ instance: name, pool, reason });
  } catch (err) {
    // The record stays `deleting`; the next pass re-publishes it.
    log.warn('teardown not published; will retry next pass', { instance: name }, err);
  }
}

export async function applyCloses(deps: ReconcileDeps, plan: ReconcilePlan, now: number, summary: PassSummary) {
  for (const c of plan.closeRecords) {
    // A `deleting` record keeps the reason of the teardown it was waiting for (its machine
    // is gone: that teardown is done, whoever closes the record).
    const next = await deps.instances.transition(c.name, [c.from], 'deleted', now, c.from === 'deleting' ? {} : { reason: c.reason });
    if (!next) continue;
    summary.recordsClosed++;
    // Only the closer records the teardown (as the teardown handler does), so the status
    // page lists machines that went without a teardown of ours too (deleted behind our
    // back, preempted, their maxRunDuration fired), each once.
    await recordHistory(deps.history, deps.logger, { type: 'teardown', pool: next.pool, at: now, instance: next.name, reason: next.reason ?? c.reason });
  }
}

/** `fenced`: checked before each delete; false (the lease was lost) deletes nothing more. */
export async function deleteOrphans(
  deps: ReconcileDeps,
  plan: ReconcilePlan,
  summary: PassSummary,
  log: Logger,
  fenced: () => Promise<boolean> = async () => true,
) {
  const limit = pLimit(deps.settings.createConcurrency);
  await Promise.all(
    plan.orphans.map((o) =>
      limit(async () => {
        try {
          if (!(await fenced())) return;
          await deps.compute.deleteMachine(o.zone, o.name);
          summary.orphansDeleted++;
          log.warn('orphan deleted', { instance: o.name, zone: o.zone });
        } catch (err) {
          log.warn('orphan delete failed; next pass retries', { instance: o.name, zone: o.zone }, err);
        }
      }),
    ),
  );
}
