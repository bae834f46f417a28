/**
 * One simulation run as `warmer simulate` and `npm run bench:sizing` do it: the trace, the
 * pool (a default one, or a pool's own spec), the boot model, and the side-by-side report.
 */
import { fixedTargetReady, poolSpecSchema, type PoolSpec } from '../domain/pool-spec.js';
import { simulate, type SimOptions } from './engine.js';
import { demandPolicy, fixedPolicy } from './policies.js';
import { compareSizing, policyReport, startTiming, WARM_HIT_TARGETS, type PolicyTiming, type SizingReport } from './report.js';
import { boundMaxTarget, scheduleBounds } from './schedule-bound.js';
import { DEFAULT_BOOT_MODEL, type BootModel } from './rng.js';
import { sliceTrace, type Trace } from './trace.js';

/** A CI pool as the simulator assumes when none is given. */
export const DEFAULT_SIM_SPEC: PoolSpec = poolSpecSchema.parse({
  image: 'projects/debian-cloud/global/images/family/debian-12',
  machineType: 'e2-standard-4',
  zones: ['us-central1-a'],
  targetReady: 0,
  maxSize: 100,
  bootTimeoutSeconds: 300,
});

/** e2-standard-4 on demand in us-central1, USD per hour (cloud.google.com/compute/vm-instance-pricing). */
export const DEFAULT_PRICE_PER_HOUR = 0.134;

export interface RunOptions {
  spec?: PoolSpec;
  /** A named pool from a pools file: its own sizing is simulated too. */
  poolName?: string;
  boot?: BootModel;
  seed?: number;
  pricePerHour?: number;
  /** Days at the start replayed (demand sizing learns) but not counted, for every policy. */
  warmupDays?: number;
  /** Largest fixed target searched. */
  maxFixed?: number;
  peers?: boolean;
  /** Trace file name, for the report. */
  file?: string;
  /** When given, filled with each policy's simulation time (wall and this process's CPU, ms), by name. */
  timings?: Map<string, PolicyTiming>;
  /** Also run demand sizing with foresight of the whole trace (report.foresight). */
  foresight?: boolean;
  /**
   * Before the timed runs, replay this many days of the trace once under demand sizing and
   * a fixed target, untimed (the JIT warm-up: the first run of code in a process is slower),
   * and report that first replay's cost as trace.jitWarmUp. 0 or absent: none.
   */
  jitWarmUpDays?: number;
  /**
   * Also compute the schedule bounds (report.bounds: the best target schedule per class kind,
   * in and out of sample; shared/sim/schedule-bound.ts), after the policies (untimed by
   * them); what they cost is report.trace.bounds.
   */
  bounds?: boolean;
}

const DAY_MS = 86_400_000;

export function runSizing(trace: Trace, o: RunOptions = {}): SizingReport {
  const spec = o.spec ?? DEFAULT_SIM_SPEC;
  const boot = o.boot ?? DEFAULT_BOOT_MODEL;
  const first = trace.jobs[0]?.startMs ?? 0;
  const last = trace.jobs.at(-1)?.startMs ?? 0;
  const warmupDays = o.warmupDays ?? 0;
  const measureFromMs = first + warmupDays * DAY_MS;
  const pricePerHour = o.pricePerHour ?? DEFAULT_PRICE_PER_HOUR;
  const sim = { spec, boot, seed: o.seed ?? 1, deleteS: 30, measureFromMs };
  const jitWarmUp = o.jitWarmUpDays ? warmUp(trace, o.jitWarmUpDays, { ...sim, measureFromMs: first }) : undefined;
  const started = performance.now();
  const report = compareSizing(
    trace.jobs,
    { ...sim, pricePerHour, maxFixed: o.maxFixed ?? 64, peers: o.peers ?? true, foresight: o.foresight ?? false, ...(o.timings ? { timings: o.timings } : {}) },
    {},
  );
  if (o.poolName !== undefined) {
    const s = spec.sizing;
    const own =
      s?.mode === 'demand'
        ? demandPolicy({ warmHitTarget: s.warmHitTarget, minReady: s.minReady, maxReady: s.maxReady, schedules: s.schedules })
        : fixedPolicy(fixedTargetReady(spec) ?? spec.maxSize);
    const name = `pool ${o.poolName} (${own.name})`;
    const stop = startTiming();
    const result = simulate(trace.jobs, own, sim);
    o.timings?.set(name, stop());
    report.policies.push({ ...policyReport(result, pricePerHour), name });
  }
  const elapsedMs = performance.now() - started;
  let bounds: { elapsedMs: number; cpuMs: number; maxTarget: number } | undefined;
  if (o.bounds) {
    const stop = startTiming();
    const known = new Map<number, number>();
    for (const p of report.policies) if (/^fixed-\d+$/.test(p.name)) known.set(Number(p.name.slice(6)), p.warmHitRate);
    // A target above maxSize is clamped to it in every pass: no bound measures past it.
    const maxTarget = Math.min(spec.maxSize, boundMaxTarget(trace.jobs, sim, known));
    report.bounds = scheduleBounds(trace.jobs, sim, { targets: WARM_HIT_TARGETS, maxTarget });
    const t = stop();
    bounds = { elapsedMs: Math.round(t.wallMs), cpuMs: Math.round(t.cpuMs), maxTarget };
  }
  const days = (last - first) / DAY_MS;
  report.trace = {
    ...(o.file === undefined ? {} : { file: o.file }),
    jobs: trace.jobs.length,
    skippedNegativeDuration: trace.skipped,
    from: new Date(first).toISOString(),
    to: new Date(last).toISOString(),
    days: Number(days.toFixed(2)),
    measuredFrom: new Date(measureFromMs).toISOString(),
    boot: { ...boot },
    pricePerHour,
    policiesRun: report.policies.length,
    elapsedMs: Math.round(elapsedMs),
    ...(jitWarmUp ? { jitWarmUp } : {}),
    ...(bounds ? { bounds } : {}),
  };
  return report;
}

/** The untimed first replay (see RunOptions.jitWarmUpDays), and what it cost per simulated day. */
function warmUp(trace: Trace, days: number, sim: SimOptions): { days: number; firstRunMsPerPolicyDay: Record<string, number> } {
  const first = trace.jobs[0]?.startMs ?? 0;
  const jobs = sliceTrace(trace.jobs, first, first + days * DAY_MS);
  const span = Math.max(((jobs.at(-1)?.startMs ?? first) - first) / DAY_MS, 1 / 24);
  const firstRunMsPerPolicyDay: Record<string, number> = {};
  // V8 optimises the simulator's many small functions over about three replays of a month
  // (270, then 84, then 28 functions on the shared trace): three demand replays and a fixed one.
  for (const p of [demandPolicy({ warmHitTarget: 0.95 }), demandPolicy({ warmHitTarget: 0.9 }), demandPolicy({ warmHitTarget: 0.99 }), fixedPolicy(8)]) {
    const stop = startTiming();
    simulate(jobs, p, sim);
    firstRunMsPerPolicyDay[p.name] = Number((stop().wallMs / span).toFixed(2));
  }
  return { days: Number(span.toFixed(2)), firstRunMsPerPolicyDay };
}
