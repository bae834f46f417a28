/**
 * One simulated reconcile pass: the policy sets the target, `planReconcile` plans (unless
 * the pass is quiet, see quiet-pass.ts), the plan is applied as the service would (ready
 * transitions, teardowns, creates with a sampled boot time), the outcomes go to the
 * breaker, and jobs waiting for a machine take the ones that just became ready.
 */
import { breakerPolicyFor, recordCreateResults, type BreakerState } from '../domain/breaker.js';
import type { InstanceRecord } from '../domain/instance.js';
import type { Machine } from '../domain/machine.js';
import type { PoolSpec } from '../domain/pool-spec.js';
import type { ProbeResult } from '../domain/probe.js';
import { DEFAULT_RECONCILE_SETTINGS, planReconcile, type ReconcilePlan } from '../domain/reconcile-plan.js';
import { pickOldestReady } from './claim-choice.js';
import { DELETE_DONE, PASS, type EventQueue } from './events.js';
import type { Cadence, SimOptions, SimResult, SizingController } from './policy.js';
import { plansNothing, quietPass } from './quiet-pass.js';
import { sampleBootMs, type Rng } from './rng.js';
import type { SimMachine, SimPool } from './sim-pool.js';

const OK_PROBE: ProbeResult = { ok: true, durationMs: 5, banner: 'SSH-2.0-OpenSSH_9.6' };
const UNLIMITED_QUOTA = { region: 'sim', cpus: Infinity, instances: Infinity, inUseAddresses: Infinity };

/** A simulation run's state, as a pass sees it. */
export interface PassContext {
  pool: SimPool;
  spec: PoolSpec;
  cadence: Cadence;
  controller: SizingController;
  options: SimOptions;
  rng: Rng;
  q: EventQueue;
  result: SimResult;
  breaker: BreakerState;
  /** Jobs waiting for a machine (indexes), FIFO. */
  waiting: number[];
  probeTickMs: number;
  /** The spec with each target a pass has set (a pass's spec differs from the pool's only in targetReady). */
  specFor: Map<number, PoolSpec>;
  /** A waiting job takes a machine that just became ready. */
  serveWaiting(m: SimMachine, t: number, j: number): void;
}

function plan(c: PassContext, spec: PoolSpec, records: InstanceRecord[], t: number): ReconcilePlan {
  const probes = new Map<string, ProbeResult>();
  const listed: Machine[] = [];
  for (const m of c.pool.live) {
    listed.push(m.machine);
    if ((m.rec.state === 'booting' && t >= m.bootDoneAt) || m.rec.state === 'ready') probes.set(m.rec.name, OK_PROBE);
  }
  return planReconcile({
    pool: 'sim',
    spec,
    now: t,
    records,
    machines: listed,
    probes,
    quota: UNLIMITED_QUOTA,
    coldZones: {},
    breaker: c.breaker,
    settings: DEFAULT_RECONCILE_SETTINGS,
  });
}

export function runPass(c: PassContext, t: number): void {
  const { pool, result, cadence } = c;
  result.passes++;
  const view = { ready: pool.ready, booting: pool.booting, claimed: pool.claimed, waiting: c.waiting.length };
  const target = Math.max(0, Math.min(c.spec.maxSize, Math.round(c.controller.target(t, view))));
  let spec = c.specFor.get(target);
  if (spec === undefined) {
    spec = target === c.spec.targetReady ? c.spec : { ...c.spec, targetReady: target };
    c.specFor.set(target, spec);
  }
  if (quietPass(pool, spec, target, c.breaker, t, c.waiting.length)) {
    result.skippedPasses++;
    if (
      c.options.verifyQuietPasses &&
      !plansNothing(
        plan(
          c,
          spec,
          pool.live.map((m) => m.rec),
          t,
        ),
      )
    ) {
      throw new Error(`sim: a pass at ${t} judged quiet planned something`);
    }
    return;
  }
  const records = pool.live.map((m) => m.rec);
  const p = plan(c, spec, records, t);
  let succeeded = 0;
  let failed = 0;
  for (const tr of p.transitions) {
    if (tr.to !== 'ready') continue;
    pool.markReady(pool.byName(tr.name), t);
    succeeded++;
  }
  for (const td of p.teardowns) {
    if (td.reason === 'boot_timeout') {
      failed++;
      result.bootFailures++;
    }
    const m = pool.byName(td.name);
    pool.startDelete(m, t);
    c.q.push(t + c.options.deleteS * 1000, DELETE_DONE, m.idx);
  }
  let creates = p.creates.length;
  if (cadence.maxInFlight !== null) creates = Math.min(creates, Math.max(0, cadence.maxInFlight - pool.booting));
  for (let i = 0; i < creates; i++) {
    const bootMs = sampleBootMs(c.rng, c.options.boot);
    pool.create(t, bootMs);
    if (cadence.eventDriven && bootMs !== Infinity) {
      // The watching pass probes on health-check ticks after the insert.
      c.q.push(t + Math.ceil(bootMs / c.probeTickMs) * c.probeTickMs, PASS, 2);
    }
  }
  // As the service does (reconcile-create.ts): the inserts started are the half-open probe,
  // and a probe may take the pool's boot timeout and a pass.
  c.breaker = recordCreateResults(c.breaker, { succeeded, failed, started: creates }, t, breakerPolicyFor(c.spec));
  // Waiting jobs retry and take the machines that just became ready, oldest waiting first.
  while (c.waiting.length > 0) {
    const rec = pickOldestReady(records);
    if (rec === null) break;
    c.serveWaiting(pool.byName(rec.name), t, c.waiting.shift() as number);
  }
}
