/**
 * The sizing simulator: replays a job trace on a simulated clock through the production
 * decision code — `planReconcile` (targets, maxSize, the create throttle, boot timeouts,
 * over-target teardowns), the breaker (`recordCreateResults`) — with a boot-time model and
 * a pass cadence. SDK-free and synchronous: a day of one pool runs in milliseconds.
 *
 * What the simulated deployment does (the same as the real one, README "How it works"):
 * - reconcile passes: every `passEveryS` (Cloud Scheduler: 60 s); with `eventDriven`, also a
 *   refill pass `refillDelayS` after every claim and after every teardown finishes, and a
 *   "watch" pass at the first health-check tick after a new machine finished booting (a
 *   refill-triggered pass keeps watching its new machines). A machine becomes `ready` only
 *   in a pass whose probe finds it booted, as in production.
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
import { CLOSED_BREAKER, recordCreateResults, type BreakerState } from '../domain/breaker.js';
import type { InstanceRecord } from '../domain/instance.js';
import type { PoolSpec } from '../domain/pool-spec.js';
import { DEFAULT_RECONCILE_SETTINGS, planReconcile } from '../domain/reconcile-plan.js';
import type { Machine } from '../domain/machine.js';
import type { ProbeResult } from '../domain/probe.js';
import { Rng, sampleBootMs } from './rng.js';
import type { TraceJob } from './trace.js';
import { DELETE_DONE, EventQueue, FALLBACK_READY, JOB_END, PASS } from './events.js';
import type { Policy, SimOptions, SimResult } from './policy.js';

export * from './policy.js';
export { pickOldestReady } from './claim-choice.js';
import { pickOldestReady } from './claim-choice.js';

interface SimMachine {
  rec: InstanceRecord;
  machine: Machine;
  bootDoneAt: number;
  /** Idle accounting: when it became ready; null while not ready. */
  readyAt: number | null;
  gone: boolean;
}

const OK_PROBE: ProbeResult = { ok: true, durationMs: 5, banner: 'SSH-2.0-OpenSSH_9.6' };
const UNLIMITED_QUOTA = { region: 'sim', cpus: Infinity, instances: Infinity, inUseAddresses: Infinity };

/** Length of [a, b) ∩ [from, to). */
function clip(a: number, b: number, from: number, to: number): number {
  return Math.max(0, Math.min(b, to) - Math.max(a, from));
}

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
  const baseSpec: PoolSpec = cadence.createThrottle === null ? options.spec : { ...options.spec, createThrottle: cadence.createThrottle };
  const controller = policy.controller(baseSpec, { boot: options.boot });
  const rng = new Rng(options.seed);
  const firstAt = (jobs[0] as TraceJob).startMs;
  const lastAt = (jobs[jobs.length - 1] as TraceJob).startMs;
  const from = options.measureFromMs ?? firstAt;
  const to = lastAt + 1;
  const stopAt = to + 3 * 3600_000;
  const start = firstAt - (options.leadInS ?? 3600) * 1000;
  const passMs = cadence.passEveryS * 1000;
  const deleteMs = options.deleteS * 1000;
  const probeTickMs = baseSpec.healthCheck.intervalSeconds * 1000;
  const zone = baseSpec.zones[0] as string;

  const machines: SimMachine[] = [];
  let live: SimMachine[] = [];
  const byName = new Map<string, number>();
  const waiting: number[] = []; // job indexes, FIFO
  const jobServed = new Uint8Array(jobs.length);
  let breaker: BreakerState = CLOSED_BREAKER;
  const q = new EventQueue();
  let nextJob = 0;
  let refillPendingAt = -Infinity;

  const counted = (j: number) => {
    const s = (jobs[j] as TraceJob).startMs;
    return s >= from && s < to;
  };
  const endIdle = (m: SimMachine, t: number) => {
    if (m.readyAt !== null) {
      result.idleMs += clip(m.readyAt, t, from, to);
      m.readyAt = null;
    }
  };
  const claimMachine = (m: SimMachine, t: number, j: number) => {
    endIdle(m, t);
    m.rec.state = 'claimed';
    m.rec.stateChangedAt.claimed = t;
    m.rec.updatedAt = t;
    jobServed[j] = 1;
    q.push(t + (jobs[j] as TraceJob).durationMs, JOB_END, byName.get(m.rec.name) as number);
  };
  const startDelete = (m: SimMachine, t: number) => {
    endIdle(m, t);
    m.rec.state = 'deleting';
    m.rec.stateChangedAt.deleting = t;
    m.rec.updatedAt = t;
    q.push(t + deleteMs, DELETE_DONE, byName.get(m.rec.name) as number);
  };
  const askRefill = (t: number) => {
    if (!cadence.eventDriven) return;
    const at = t + cadence.refillDelayS * 1000;
    if (refillPendingAt >= t && refillPendingAt <= at) return; // coalesced with a pending one
    refillPendingAt = at;
    q.push(at, PASS, 1);
  };

  const runPass = (t: number) => {
    result.passes++;
    let ready = 0;
    let booting = 0;
    let claimed = 0;
    for (const m of live) {
      if (m.rec.state === 'ready') ready++;
      else if (m.rec.state === 'booting') booting++;
      else if (m.rec.state === 'claimed') claimed++;
    }
    const target = Math.max(0, Math.min(baseSpec.maxSize, Math.round(controller.target(t, { ready, booting, claimed, waiting: waiting.length }))));
    // A pass over a settled pool (nothing booting or deleting, exactly the target ready, no
    // idle-age recycling, no one waiting) plans nothing: skip computing it.
    if (
      booting === 0 &&
      ready === target &&
      waiting.length === 0 &&
      baseSpec.maxIdleAgeSeconds === null &&
      live.length === ready + claimed &&
      breaker.openUntil === null
    ) {
      result.skippedPasses++;
      return;
    }
    const spec = target === baseSpec.targetReady ? baseSpec : { ...baseSpec, targetReady: target };
    const probes = new Map<string, ProbeResult>();
    const records: InstanceRecord[] = [];
    const listed: Machine[] = [];
    for (const m of live) {
      records.push(m.rec);
      listed.push(m.machine);
      if ((m.rec.state === 'booting' && t >= m.bootDoneAt) || m.rec.state === 'ready') probes.set(m.rec.name, OK_PROBE);
    }
    const plan = planReconcile({
      pool: 'sim',
      spec,
      now: t,
      records,
      machines: listed,
      probes,
      quota: UNLIMITED_QUOTA,
      coldZones: {},
      breaker,
      settings: DEFAULT_RECONCILE_SETTINGS,
    });
    let succeeded = 0;
    let failed = 0;
    for (const tr of plan.transitions) {
      const m = machines[byName.get(tr.name) as number] as SimMachine;
      if (tr.to === 'ready') {
        m.rec.state = 'ready';
        m.rec.stateChangedAt.ready = t;
        m.rec.updatedAt = t;
        m.readyAt = t;
        succeeded++;
      }
    }
    for (const td of plan.teardowns) {
      const m = machines[byName.get(td.name) as number] as SimMachine;
      if (td.reason === 'boot_timeout') {
        failed++;
        result.bootFailures++;
      }
      startDelete(m, t);
    }
    let creates = plan.creates.length;
    if (cadence.maxInFlight !== null) {
      const inFlight = live.filter((m) => m.rec.state === 'booting').length;
      creates = Math.min(creates, Math.max(0, cadence.maxInFlight - inFlight));
    }
    for (let i = 0; i < creates; i++) {
      const idx = machines.length;
      const name = `sim-${idx}`;
      const bootMs = sampleBootMs(rng, options.boot);
      const rec: InstanceRecord = {
        name,
        pool: 'sim',
        zone,
        state: 'booting',
        requestId: name,
        deleteRequestId: null,
        ip: '10.0.0.1',
        publicIp: null,
        createdAt: t,
        stateChangedAt: { creating: t, booting: t },
        updatedAt: t,
        claim: null,
        health: { consecutiveFailures: 0, lastProbeAt: null, lastError: null },
        reason: null,
        sshPrivateKeyEncrypted: null,
        sshPublicKeyEntry: null,
      };
      const m: SimMachine = {
        rec,
        machine: { name, zone, status: 'RUNNING', ip: '10.0.0.1', publicIp: null, labels: {}, labelFingerprint: null, createdAt: t },
        bootDoneAt: t + bootMs,
        readyAt: null,
        gone: false,
      };
      machines.push(m);
      live.push(m);
      byName.set(name, idx);
      result.machinesCreated++;
      if (cadence.eventDriven && bootMs !== Infinity) {
        // The watching pass probes on health-check ticks after the insert.
        q.push(t + Math.ceil(bootMs / probeTickMs) * probeTickMs, PASS, 2);
      }
    }
    breaker = recordCreateResults(breaker, { succeeded, failed }, t);
    // Waiting jobs retry and take the machines that just became ready, oldest waiting first.
    while (waiting.length > 0) {
      const rec = pickOldestReady(records);
      if (rec === null) break;
      const j = waiting.shift() as number;
      const m = machines[byName.get(rec.name) as number] as SimMachine;
      if (counted(j)) result.coldWaitsMs.push(t - (jobs[j] as TraceJob).startMs);
      claimMachine(m, t, j);
    }
  };

  q.push(start, PASS, 0);
  for (;;) {
    const ev = q.peek();
    const arrivalAt = nextJob < jobs.length ? (jobs[nextJob] as TraceJob).startMs : Infinity;
    const evAt = ev ? ev.t : Infinity;
    const t = Math.min(arrivalAt, evAt);
    if (t > stopAt || t === Infinity) break;
    if (arrivalAt <= evAt) {
      // A job arrives and claims one machine.
      const j = nextJob++;
      const rec = pickOldestReady(live.map((m) => m.rec));
      const isCounted = counted(j);
      if (isCounted) result.jobs++;
      if (rec !== null) {
        if (isCounted) result.warm++;
        claimMachine(machines[byName.get(rec.name) as number] as SimMachine, t, j);
        controller.observe?.(t, { count: 1, warm: 1 });
      } else {
        waiting.push(j);
        const fallbackMs = sampleBootMs(rng, { ...options.boot, failureRate: 0 });
        q.push(t + fallbackMs, FALLBACK_READY, j);
        controller.observe?.(t, { count: 1, warm: 0 });
      }
      askRefill(t);
      continue;
    }
    q.pop();
    switch (ev!.kind) {
      case PASS:
        if (ev!.ref === 0) q.push(t + passMs, PASS, 0);
        runPass(t);
        break;
      case JOB_END: {
        const m = machines[ev!.ref] as SimMachine;
        startDelete(m, t);
        break;
      }
      case DELETE_DONE: {
        const m = machines[ev!.ref] as SimMachine;
        m.rec.state = 'deleted';
        m.gone = true;
        result.totalMs += clip(m.rec.createdAt, t, from, to);
        live = live.filter((x) => x !== m);
        askRefill(t);
        break;
      }
      case FALLBACK_READY: {
        const j = ev!.ref;
        if (jobServed[j]) break;
        jobServed[j] = 1;
        const i = waiting.indexOf(j);
        if (i >= 0) waiting.splice(i, 1);
        const job = jobs[j] as TraceJob;
        if (counted(j)) result.coldWaitsMs.push(t - job.startMs);
        // The fallback machine lives from the job's arrival (its boot) to the job's end.
        result.totalMs += clip(job.startMs, t + job.durationMs, from, to);
        break;
      }
    }
  }
  for (const m of live) {
    endIdle(m, to);
    result.totalMs += clip(m.rec.createdAt, to, from, to);
  }
  result.coldWaitsMs.sort((a, b) => a - b);
  return result;
}
