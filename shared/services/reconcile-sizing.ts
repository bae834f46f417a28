/**
 * Demand sizing in a reconcile pass: under the pool's lease, fold the claims recorded since
 * the last pass (served claims' receipts, missed claims' events) into the pool's compact
 * history, compute the target with the same pure `sizingTarget(history, spec, now)` the
 * simulator runs, save history and decision fenced, and plan with that target.
 *
 * Best effort: when the history cannot be read or saved the pass still plans, from the
 * history it has (a store outage never stops a pool from refilling). A pool without a
 * `sizing` block, or a deployment without a sizing store, plans with spec.targetReady.
 */
import type { InstanceRecord } from '../domain/instance.js';
import type { PoolSpec } from '../domain/pool-spec.js';
import { foldClaims, foldWindow, storedDecision, type ClaimSample, type PoolSizingState } from '../domain/sizing-fold.js';
import { emptyHistory, sizingTarget, type SizingInputs } from '../domain/sizing.js';
import type { LeaseGrant } from '../domain/pool-runtime.js';
import type { Logger } from '../logging.js';
import type { ReconcileDeps } from './reconcile-deps.js';

/** Lead time assumed before any machine of the pool has booted. */
export const DEFAULT_LEAD_MS = 60_000;

/** The pool's boot time: the median of (ready − created) over its records that reached ready. */
export function bootLeadMs(records: readonly InstanceRecord[]): number {
  const boots = records
    .map((r) => (r.stateChangedAt.ready ?? NaN) - r.createdAt)
    .filter((d) => Number.isFinite(d) && d > 0)
    .sort((a, b) => a - b);
  if (boots.length === 0) return DEFAULT_LEAD_MS;
  return Math.round(boots[Math.floor((boots.length - 1) / 2)] as number);
}

/** Demand sizing's inputs; null for a fixed pool (a `fill` pool cannot be demand-sized: pool-spec.ts refuses both). */
export const sizingInputs = (spec: PoolSpec): SizingInputs | null =>
  spec.sizing && typeof spec.targetReady === 'number'
    ? { targetReady: spec.targetReady, maxSize: spec.maxSize, sizing: { ...spec.sizing, maxReady: spec.sizing.maxReady ?? null } }
    : null;

/** Claims of [from, to): served ones from receipts (warm), missed ones from the history (cold). */
async function claimsBetween(deps: ReconcileDeps, pool: string, from: number, to: number): Promise<ClaimSample[]> {
  const [served, events] = await Promise.all([deps.sizing!.servedBetween(pool, from, to), deps.history ? deps.history.since(pool, from) : Promise.resolve([])]);
  const missed = events.filter((e) => e.type === 'claim_miss' && e.at < to).map((e) => ({ at: e.at, count: e.count ?? 1, warm: 0 }));
  return [...served, ...missed];
}

/**
 * The spec the pass plans with: `targetReady` replaced by the computed target for a sized
 * pool. Never throws.
 */
export async function sizePool(
  deps: ReconcileDeps,
  pool: { name: string; spec: PoolSpec },
  records: readonly InstanceRecord[],
  now: number,
  lease: LeaseGrant,
  log: Logger,
): Promise<PoolSpec> {
  const inputs = sizingInputs(pool.spec);
  if (!inputs || !deps.sizing) return pool.spec;
  const leadMs = bootLeadMs(records);
  let stored: PoolSizingState | null = null;
  let next: PoolSizingState;
  try {
    stored = await deps.sizing.load(pool.name);
    const window = foldWindow(stored, now);
    const claims = window.to > window.from ? await claimsBetween(deps, pool.name, window.from, window.to) : [];
    next = foldClaims(stored, claims, window);
  } catch (err) {
    log.warn('sizing history not read; sizing from what is stored', {}, err);
    const decision = sizingTarget(stored?.history ?? emptyHistory(), inputs, now, { leadMs });
    return { ...pool.spec, targetReady: decision.target };
  }
  const decision = sizingTarget(next.history, inputs, now, { leadMs });
  next = { ...next, decision: storedDecision(decision, now, leadMs) };
  try {
    const saved = await deps.sizing.save(pool.name, next, { pool: pool.name, holder: lease.holder, generation: lease.generation, now });
    if (!saved) log.warn('sizing history not saved: lease lost');
  } catch (err) {
    log.warn('sizing history not saved; the next pass folds these claims again', {}, err);
  }
  if (stored?.decision?.target !== decision.target) {
    log.info('pool target sized', { target: decision.target, previous: stored?.decision?.target ?? null, mode: decision.mode, why: decision.why });
  }
  return { ...pool.spec, targetReady: decision.target };
}
