/**
 * When a simulated reconcile pass would plan nothing, so the simulator need not compute it.
 *
 * In the simulated pool every machine is listed and RUNNING, probes succeed once a machine
 * has booted, claims never expire and deletes finish in `deleteS` (< deletingStuckMs), so
 * `planReconcile` can only: move a booted `booting` record to ready, tear down a booting
 * one past its boot timeout, tear down ready ones over the target, or create machines
 * (want > 0, room under maxSize, a create budget). A pass where none of these can happen
 * plans no transition, teardown or create (its health writes are not simulated), folds
 * 0/0 outcomes into the breaker (`recordCreateResults` returns the same state) and serves
 * no waiting job: skipping it changes nothing. `SimOptions.verifyQuietPasses` runs
 * `planReconcile` on every skipped pass and fails if it planned anything (the tests do).
 */
import { breakerCreateLimit, type BreakerState } from '../domain/breaker.js';
import type { PoolSpec } from '../domain/pool-spec.js';
import { enteredAt, type ReconcilePlan } from '../domain/reconcile-plan.js';
import type { SimPool } from './sim-pool.js';

export function quietPass(pool: SimPool, spec: PoolSpec, target: number, breaker: BreakerState, t: number, waiting: number): boolean {
  if (!spec.enabled || spec.maxIdleAgeSeconds !== null) return false;
  // Over target: the newest extra ready machines are torn down.
  if (pool.ready > target) return false;
  // Jobs waiting retry at a pass and take ready machines.
  if (waiting > 0 && pool.ready > 0) return false;
  // Creates: want = target − warm, capped by maxSize − occupied and the create budget.
  const want = target - (pool.booting + pool.ready);
  if (want > 0 && pool.live.length < spec.maxSize && !spec.paused && spec.createThrottle > 0 && breakerCreateLimit(breaker, t) > 0) return false;
  // Booting machines: one that booted becomes ready, one past its boot timeout is torn down.
  if (pool.booting > 0) {
    const timeoutMs = spec.bootTimeoutSeconds * 1000;
    for (const m of pool.live) {
      if (m.rec.state !== 'booting') continue;
      if (t >= m.bootDoneAt || t - enteredAt(m.rec, 'booting') >= timeoutMs) return false;
    }
  }
  return true;
}

/** What a quiet pass must not plan: anything the simulator would act on. */
export function plansNothing(plan: ReconcilePlan): boolean {
  return plan.transitions.length === 0 && plan.teardowns.length === 0 && plan.creates.length === 0 && plan.retryCreates.length === 0;
}
