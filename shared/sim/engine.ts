/**
 * The sizing simulator: replays a job trace on a simulated clock through the production
 * decision code — `planReconcile` (targets, maxSize, the create throttle, boot timeouts,
 * over-target teardowns), the breaker (`recordCreateResults`) — with a boot-time model and
 * a pass cadence. SDK-free and synchronous, event-driven (the clock jumps from one event to
 * the next: a job's arrival or end, a pass, a delete or a fallback boot finishing): a day
 * of one pool runs in milliseconds.
 *
 * What the simulated deployment does (the same as the real one, README "How it works"):
 * - reconcile passes: every `passEveryS` (Cloud Scheduler: 60 s); with `eventDriven`, also a
 *   refill pass `refillDelayS` after every claim and after every teardown finishes, and a
 *   "watch" pass at the first health-check tick after a new machine finished booting (a
 *   refill-triggered pass keeps watching its new machines). A machine becomes `ready` only
 *   in a pass whose probe finds it booted, as in production. A pass that provably plans
 *   nothing is counted but not computed (quiet-pass.ts).
 * - a job claims the oldest ready machine (warm). Its machine is released when the job ends
 *   and torn down (CI machines are deleted after use); deletion takes `deleteS`.
 * - a job that finds no ready machine is COLD. Decision (documented in the report): it gets
 *   whichever comes first of (a) a pool machine becoming ready (its client retries the 503
 *   and takes it, oldest waiting job first), or (b) a machine of its own, cold-booted from
 *   its arrival with the same boot model (the CI system's on-demand fallback). Its wait is
 *   that time; a fallback machine counts in total VM-hours (boot + job), never as idle.
 * - machines are inserted instantly (the record goes straight to `booting`); quota is
 *   unlimited and zones never stock out (the trace is about demand, not capacity).
 */
import { CLOSED_BREAKER } from '../domain/breaker.js';
import type { PoolSpec } from '../domain/pool-spec.js';
import { Rng, sampleBootMs } from './rng.js';
import type { TraceJob } from './trace.js';
import { DELETE_DONE, EventQueue, FALLBACK_READY, JOB_END, PASS } from './events.js';
import type { Policy, SimOptions, SimResult } from './policy.js';
import { pickOldestReady } from './claim-choice.js';
import { runPass, type PassContext } from './pass.js';
import { clip, SimPool, type SimMachine } from './sim-pool.js';

export * from './policy.js';
export { pickOldestReady } from './claim-choice.js';

export function simulate(jobs: readonly TraceJob[], policy: Policy, options: SimOptions): SimResult {
  const result: SimResult = {
    name: policy.name,
    jobs: 0,
    warm: 0,
    coldWaitsMs: [],
    idleMs: 0,
    totalMs: 0,
    machinesCreated: 0,
    bootFailures: 0,
    passes: 0,
    skippedPasses: 0,
  };
  if (jobs.length === 0) return result;
  const { cadence } = policy;
  const spec: PoolSpec = cadence.createThrottle === null ? options.spec : { ...options.spec, createThrottle: cadence.createThrottle };
  const firstAt = (jobs[0] as TraceJob).startMs;
  const lastAt = (jobs[jobs.length - 1] as TraceJob).startMs;
  const from = options.measureFromMs ?? firstAt;
  const to = lastAt + 1;
  const stopAt = to + 3 * 3600_000;
  const start = firstAt - (options.leadInS ?? 3600) * 1000;
  const passMs = cadence.passEveryS * 1000;
  const deleteMs = options.deleteS * 1000;
  const pool = new SimPool(spec.zones[0] as string, result, from, to);
  const jobServed = new Uint8Array(jobs.length);
  const q = new EventQueue();
  let refillPendingAt = -Infinity;

  const counted = (j: number) => {
    const s = (jobs[j] as TraceJob).startMs;
    return s >= from && s < to;
  };
  const claimFor = (m: SimMachine, t: number, j: number) => {
    pool.claim(m, t);
    jobServed[j] = 1;
    q.push(t + (jobs[j] as TraceJob).durationMs, JOB_END, m.idx);
  };
  const ctx: PassContext = {
    pool,
    spec,
    cadence,
    controller: policy.controller(spec, { boot: options.boot }),
    options,
    rng: new Rng(options.seed),
    q,
    result,
    breaker: CLOSED_BREAKER,
    waiting: [],
    probeTickMs: spec.healthCheck.intervalSeconds * 1000,
    specFor: new Map(),
    serveWaiting: (m, t, j) => {
      if (counted(j)) result.coldWaitsMs.push(t - (jobs[j] as TraceJob).startMs);
      claimFor(m, t, j);
    },
  };
  const askRefill = (t: number) => {
    if (!cadence.eventDriven) return;
    const at = t + cadence.refillDelayS * 1000;
    if (refillPendingAt >= t && refillPendingAt <= at) return; // coalesced with a pending one
    refillPendingAt = at;
    q.push(at, PASS, 1);
  };
  const arrive = (j: number, t: number) => {
    const rec = pickOldestReady(pool.live.map((m) => m.rec));
    const isCounted = counted(j);
    if (isCounted) result.jobs++;
    if (rec !== null) {
      if (isCounted) result.warm++;
      claimFor(pool.byName(rec.name), t, j);
      ctx.controller.observe?.(t, { count: 1, warm: 1 });
    } else {
      ctx.waiting.push(j);
      const fallbackMs = sampleBootMs(ctx.rng, { ...options.boot, failureRate: 0 });
      q.push(t + fallbackMs, FALLBACK_READY, j);
      ctx.controller.observe?.(t, { count: 1, warm: 0 });
    }
    askRefill(t);
  };
  const fallbackReady = (j: number, t: number) => {
    if (jobServed[j]) return;
    jobServed[j] = 1;
    const i = ctx.waiting.indexOf(j);
    if (i >= 0) ctx.waiting.splice(i, 1);
    const job = jobs[j] as TraceJob;
    if (counted(j)) result.coldWaitsMs.push(t - job.startMs);
    // The fallback machine lives from the job's arrival (its boot) to the job's end.
    result.totalMs += clip(job.startMs, t + job.durationMs, from, to);
  };

  let nextJob = 0;
  q.push(start, PASS, 0);
  for (;;) {
    const ev = q.peek();
    const arrivalAt = nextJob < jobs.length ? (jobs[nextJob] as TraceJob).startMs : Infinity;
    const evAt = ev ? ev.t : Infinity;
    const t = Math.min(arrivalAt, evAt);
    if (t > stopAt || t === Infinity) break;
    if (arrivalAt <= evAt) {
      arrive(nextJob++, t);
      continue;
    }
    q.pop();
    const { kind, ref } = ev as NonNullable<typeof ev>;
    if (kind === PASS) {
      if (ref === 0) q.push(t + passMs, PASS, 0);
      runPass(ctx, t);
    } else if (kind === JOB_END) {
      const m = pool.machines[ref] as SimMachine;
      pool.startDelete(m, t);
      q.push(t + deleteMs, DELETE_DONE, ref);
    } else if (kind === DELETE_DONE) {
      pool.deleted(pool.machines[ref] as SimMachine, t);
      askRefill(t);
    } else if (kind === FALLBACK_READY) {
      fallbackReady(ref, t);
    }
  }
  pool.close();
  result.coldWaitsMs.sort((a, b) => a - b);
  return result;
}
