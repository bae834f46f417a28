/**
 * Schedule bounds (issue 13): the best that ANY target schedule keyed on a class of the time
 * could have done on a trace, against the cheapest fixed target reaching the same warm-hit
 * rate. A class is a function of the time and of the last claim's time: one class, the hour
 * of the day, the hour of the week, weekday/weekend × hour, or the time since the last claim.
 *
 * - `inSample`: the schedule is fitted on the measured window and evaluated on it. That is
 *   hindsight (it knows how busy every class will be): an optimistic bound, no real pool
 *   can do better with these classes.
 * - `outOfSample`: fitted on the first half of the measured window, evaluated on the second
 *   half: what a schedule learned from the past can really do.
 *
 * How: warmer's fixed policy runs through the real simulator for every target 0..maxTarget,
 * with a controller that records, per class, the jobs and warm jobs (each job counts for the
 * class of its burst's first claim) and the idle ready-machine time. Per warm-hit target, a
 * Lagrangian over the classes (per class the target maximising hits − μ·idle, μ bisected so
 * that the fitted hit rate reaches the target) picks one target per class. That splice of
 * fixed runs ignores the boot time at class boundaries (a class whose target is higher than
 * the previous one's starts with machines still booting), so each chosen schedule is then
 * REPLAYED as a real policy through `simulate`, and the row reports the replay; the spliced
 * figure is `estimatedHitRate`.
 */
import { BURST_GAP_MS, HOUR_MS, hourOfWeek, MINUTE_MS } from '../domain/sizing-history.js';
import { simulate, WARMER_CADENCE, type Policy, type SimOptions, type SimResult } from './engine.js';
import { fixedPolicy } from './policies.js';
import { sliceTrace, type TraceJob } from './trace.js';

export const CLASS_KINDS = ['one', 'hour-of-day', 'hour-of-week', 'weekpart-hour', 'recency'] as const;
export type ClassKind = (typeof CLASS_KINDS)[number];

export interface BoundFit {
  /** The replayed schedule's warm-hit rate over the evaluation window. */
  hitRate: number;
  idleVmHours: number;
  /** The cheapest fixed target reaching `hitRate` over the same window (null: none up to maxTarget). */
  bestFixedTarget: number | null;
  bestFixedIdleVmHours: number | null;
  /** idleVmHours / bestFixedIdleVmHours (null when there is no such fixed target, or it idles 0 h). */
  ratio: number | null;
  /** The hit rate the splice of fixed runs predicted for the schedule (before the replay). */
  estimatedHitRate: number;
}

export interface ScheduleBoundRow {
  classes: ClassKind;
  classCount: number;
  warmHitTarget: number;
  inSample: BoundFit;
  /** null when the measured window is shorter than 2 days. */
  outOfSample: BoundFit | null;
}

export interface ScheduleBoundOptions {
  /** Warm-hit targets, one row per (class kind, target). */
  targets: readonly number[];
  /** Fixed targets 0..maxTarget are measured; no class's target exceeds it. */
  maxTarget: number;
  /** Class kinds (default: all of CLASS_KINDS). */
  classes?: ClassKind[];
}

const DAY_MS = 86_400_000;
/** Upper bounds of the recency buckets (time since the last claim); beyond the last: bucket 7. */
const RECENCY_BOUNDS_MS = [5, 15, 30, 60, 120, 240, 480].map((m) => m * MINUTE_MS);
/**
 * Every run replays the trace from this long before the window it measures (the measured
 * window, or the second half): longer than any job of a CI trace and than the last recency
 * bucket, so the pool's state when the window opens does not depend on the jobs left out,
 * only on the seeded boot-time draws. It saves a quarter of the time on the shared trace.
 */
const LEAD_MS = 12 * HOUR_MS;

const hourOfDay = (t: number) => Math.floor(t / HOUR_MS) % 24;
const recency = (t: number, lastClaim: number) => {
  const since = t - lastClaim;
  const i = RECENCY_BOUNDS_MS.findIndex((b) => since < b);
  return i < 0 ? RECENCY_BOUNDS_MS.length : i;
};

/** Each class kind: how many classes, and the class at time t when the last claim was at lastClaim (-Infinity: none yet). */
const CLASS_DEFS: Record<ClassKind, { count: number; of: (t: number, lastClaim: number) => number }> = {
  one: { count: 1, of: () => 0 },
  'hour-of-day': { count: 24, of: hourOfDay },
  'hour-of-week': { count: 168, of: (t) => hourOfWeek(t) },
  // Monday 00:00 is hour-of-week 0: Saturday and Sunday are its last 48 hours.
  'weekpart-hour': { count: 48, of: (t) => (hourOfWeek(t) >= 120 ? 24 : 0) + hourOfDay(t) },
  recency: { count: RECENCY_BOUNDS_MS.length + 1, of: recency },
};

const round = (x: number, d: number) => Number(x.toFixed(d));

/** Per class, over one period: jobs, warm jobs, idle ready-machine ms. */
interface ClassStats {
  jobs: Float64Array;
  warm: Float64Array;
  idleMs: Float64Array;
}

/** One fixed target's run: per kind, per period (0: before the split, 1: from it), per class. */
interface FixedRun {
  result: SimResult;
  byKind: ClassStats[][];
}

const emptyStats = (n: number): ClassStats => ({ jobs: new Float64Array(n), warm: new Float64Array(n), idleMs: new Float64Array(n) });
const sum = (a: Float64Array) => a.reduce((x, y) => x + y, 0);

/**
 * warmer's fixed policy (shared/sim/policies.ts fixedPolicy) at `target`, recording per-class
 * statistics over [from, to). The idle time is exact (its total equals the run's idleMs): the
 * ready count only changes in passes (right after target() is asked) and at warm claims
 * (observe), so between two target() calls it is the next call's view.ready plus the warm
 * claims still to come in between.
 */
function instrumentedFixed(
  target: number,
  defs: Array<(t: number, lc: number) => number>,
  stats: ClassStats[][],
  from: number,
  split: number,
  to: number,
): Policy {
  const addIdle = (a0: number, b0: number, ready: number, lastClaim: number) => {
    if (ready === 0) return;
    let a = Math.max(a0, from);
    const b = Math.min(b0, to);
    while (a < b) {
      // Pieces end at minute boundaries and at the split; each takes the class of its start.
      let e = Math.min(b, (Math.floor(a / MINUTE_MS) + 1) * MINUTE_MS);
      if (a < split && e > split) e = split;
      const period = a < split ? 0 : 1;
      for (let k = 0; k < defs.length; k++) {
        const s = (stats[k] as ClassStats[])[period] as ClassStats;
        const c = (defs[k] as (t: number, lc: number) => number)(a, lastClaim);
        s.idleMs[c] = (s.idleMs[c] as number) + ready * (e - a);
      }
      a = e;
    }
  };
  return {
    name: `fixed-${target}`,
    cadence: WARMER_CADENCE,
    controller: () => {
      let lastCall = -Infinity;
      let lastClaim = -Infinity;
      /** lastClaim when target() was last asked. */
      let claimAtCall = -Infinity;
      /** Claims since target() was last asked: time, warm (0/1). */
      const claims: Array<[number, number]> = [];
      const burstClass = defs.map(() => 0);
      return {
        target: (now, view) => {
          if (lastCall > -Infinity) {
            let ready = view.ready;
            for (const [, warm] of claims) ready += warm;
            let a = lastCall;
            let lc = claimAtCall;
            for (const [t, warm] of claims) {
              addIdle(a, t, ready, lc);
              ready -= warm;
              lc = t;
              a = t;
            }
            addIdle(a, now, ready, lc);
          }
          claims.length = 0;
          lastCall = now;
          claimAtCall = lastClaim;
          return target;
        },
        observe: (now, claim) => {
          const newBurst = now - lastClaim >= BURST_GAP_MS;
          if (now >= from && now < to) {
            const period = now < split ? 0 : 1;
            for (let k = 0; k < defs.length; k++) {
              if (newBurst) burstClass[k] = (defs[k] as (t: number, lc: number) => number)(now, lastClaim);
              const s = (stats[k] as ClassStats[])[period] as ClassStats;
              const c = burstClass[k] as number;
              s.jobs[c] = (s.jobs[c] as number) + claim.count;
              s.warm[c] = (s.warm[c] as number) + claim.warm;
            }
          } else if (newBurst) {
            for (let k = 0; k < defs.length; k++) burstClass[k] = (defs[k] as (t: number, lc: number) => number)(now, lastClaim);
          }
          claims.push([now, claim.warm]);
          lastClaim = now;
        },
      };
    },
  };
}

/** The replayed schedule: target(t) = targets[class(t, last claim)]. */
function schedulePolicy(name: string, of: (t: number, lc: number) => number, targets: readonly number[]): Policy {
  return {
    name,
    cadence: WARMER_CADENCE,
    controller: () => {
      let lastClaim = -Infinity;
      return {
        target: (now) => targets[of(now, lastClaim)] ?? 0,
        observe: (now) => {
          lastClaim = now;
        },
      };
    },
  };
}

/** Per class, one target, through the Lagrangian: the targets whose fitted hit rate reaches q at the least idle time. */
function fitSchedule(fit: readonly ClassStats[], count: number, q: number): number[] {
  const maxR = fit.length - 1;
  const total = sum((fit[0] as ClassStats).jobs);
  const choose = (mu: number) => {
    const targets: number[] = [];
    for (let c = 0; c < count; c++) {
      let best = -Infinity;
      let bestR = 0;
      for (let R = 0; R <= maxR; R++) {
        const s = fit[R] as ClassStats;
        const v = (s.warm[c] as number) - (mu * (s.idleMs[c] as number)) / HOUR_MS;
        if (v > best + 1e-9) {
          best = v;
          bestR = R;
        }
      }
      targets.push(bestR);
    }
    return targets;
  };
  const hit = (targets: number[]) => {
    if (total === 0) return 1;
    let h = 0;
    for (let c = 0; c < count; c++) h += (fit[targets[c] as number] as ClassStats).warm[c] as number;
    return h / total;
  };
  // μ: warm jobs one idle VM-hour is worth. Small μ: the most hits; large μ: the least idle.
  let lo = 1e-6;
  let hi = 1e6;
  let chosen = choose(hi);
  if (hit(chosen) >= q) return chosen;
  chosen = choose(lo);
  for (let i = 0; i < 60; i++) {
    const mu = Math.sqrt(lo * hi);
    const t = choose(mu);
    if (hit(t) >= q) {
      lo = mu;
      chosen = t;
    } else hi = mu;
  }
  return chosen;
}

/** The estimate from the per-class stats of the evaluation period. */
function spliceHit(evalStats: readonly ClassStats[], targets: readonly number[]): number {
  let warm = 0;
  let jobs = 0;
  targets.forEach((R, c) => {
    const s = evalStats[R] as ClassStats;
    warm += s.warm[c] as number;
    jobs += s.jobs[c] as number;
  });
  return jobs === 0 ? 1 : warm / jobs;
}

/** The cheapest fixed target reaching `level`, from (hit rate, idle ms) per target. */
function cheapestFixed(fixed: ReadonlyArray<{ hit: number; idleMs: number }>, level: number): number | null {
  let best: number | null = null;
  fixed.forEach((f, R) => {
    if (f.hit >= level - 1e-12 && (best === null || f.idleMs < (fixed[best] as { idleMs: number }).idleMs)) best = R;
  });
  return best;
}

function boundFit(replay: { hit: number; idleMs: number }, fixed: ReadonlyArray<{ hit: number; idleMs: number }>, estimatedHit: number): BoundFit {
  const n = cheapestFixed(fixed, replay.hit);
  const fixedIdle = n === null ? null : (fixed[n] as { idleMs: number }).idleMs;
  return {
    hitRate: round(replay.hit, 4),
    idleVmHours: round(replay.idleMs / HOUR_MS, 2),
    bestFixedTarget: n,
    bestFixedIdleVmHours: fixedIdle === null ? null : round(fixedIdle / HOUR_MS, 2),
    ratio: fixedIdle === null || fixedIdle === 0 ? null : round(replay.idleMs / fixedIdle, 3),
    estimatedHitRate: round(estimatedHit, 4),
  };
}

const hitOf = (r: SimResult) => (r.jobs === 0 ? 1 : r.warm / r.jobs);

export function scheduleBounds(jobs: readonly TraceJob[], options: SimOptions, o: ScheduleBoundOptions): ScheduleBoundRow[] {
  const first = jobs[0]?.startMs;
  const last = jobs.at(-1)?.startMs;
  if (first === undefined || last === undefined) return [];
  const kinds = o.classes ?? [...CLASS_KINDS];
  if (kinds.length === 0) return [];
  const defs = kinds.map((k) => CLASS_DEFS[k].of);
  // The measured window, as simulate counts it: [from, to).
  const from = options.measureFromMs ?? first;
  const to = last + 1;
  const outOfSample = to - from >= 2 * DAY_MS;
  // The split: the middle of the window, on a whole hour.
  const split = outOfSample ? Math.floor((from + (to - from) / 2) / HOUR_MS) * HOUR_MS : to;
  const sim: SimOptions = { ...options, measureFromMs: from };

  const measured = sliceTrace(jobs, from - LEAD_MS, Infinity);
  const tail = outOfSample ? sliceTrace(jobs, split - LEAD_MS, Infinity) : [];

  // One instrumented run per fixed target collects every kind's statistics.
  const runs: FixedRun[] = [];
  for (let R = 0; R <= o.maxTarget; R++) {
    const byKind = kinds.map((k) => [emptyStats(CLASS_DEFS[k].count), emptyStats(CLASS_DEFS[k].count)]);
    const result = simulate(measured, instrumentedFixed(R, defs, byKind, from, split, to), sim);
    runs.push({ result, byKind });
  }
  // The fixed targets over each evaluation window, from the same runs. In-sample: the runs'
  // results (fixedPolicy(R) on the same slice, the same simulation). Out-of-sample: their
  // per-class stats from the split on, over exactly the replay's window [split, to) (a run's
  // dynamics do not depend on measureFromMs, only what it counts: this is what fixedPolicy(R)
  // measured from the split reports).
  const fixedIn = runs.map((r) => ({ hit: hitOf(r.result), idleMs: r.result.idleMs }));
  const secondHalf = (r: FixedRun) => (r.byKind[0] as ClassStats[])[1] as ClassStats;
  const fixedOut = runs.map((r) => {
    const s = secondHalf(r);
    const n = sum(s.jobs);
    return { hit: n === 0 ? 1 : sum(s.warm) / n, idleMs: sum(s.idleMs) };
  });

  // Replays, memoised by schedule: a constant schedule IS the fixed policy already run.
  const replays = new Map<string, { hit: number; idleMs: number }>();
  const replay = (kind: ClassKind, targets: readonly number[], window: 'in' | 'out') => {
    const constant = targets.every((R) => R === targets[0]);
    if (constant) return (window === 'in' ? fixedIn : fixedOut)[targets[0] as number] as { hit: number; idleMs: number };
    const key = `${window}:${kind}:${targets.join(',')}`;
    let r = replays.get(key);
    if (!r) {
      const policy = schedulePolicy(`schedule-${kind}`, CLASS_DEFS[kind].of, targets);
      const res = window === 'in' ? simulate(measured, policy, sim) : simulate(tail, policy, { ...options, measureFromMs: split });
      r = { hit: hitOf(res), idleMs: res.idleMs };
      replays.set(key, r);
    }
    return r;
  };

  const rows: ScheduleBoundRow[] = [];
  kinds.forEach((kind, k) => {
    const count = CLASS_DEFS[kind].count;
    const period = (p: 0 | 1) => runs.map((r) => (r.byKind[k] as ClassStats[])[p] as ClassStats);
    const firstHalf = period(0);
    const lastHalf = period(1);
    const both = firstHalf.map((a, R) => {
      const b = lastHalf[R] as ClassStats;
      const s = emptyStats(count);
      for (let c = 0; c < count; c++) {
        s.jobs[c] = (a.jobs[c] as number) + (b.jobs[c] as number);
        s.warm[c] = (a.warm[c] as number) + (b.warm[c] as number);
        s.idleMs[c] = (a.idleMs[c] as number) + (b.idleMs[c] as number);
      }
      return s;
    });
    for (const q of o.targets) {
      const inTargets = fitSchedule(both, count, q);
      const inFit = boundFit(replay(kind, inTargets, 'in'), fixedIn, spliceHit(both, inTargets));
      let outFit: BoundFit | null = null;
      if (outOfSample) {
        const outTargets = fitSchedule(firstHalf, count, q);
        outFit = boundFit(replay(kind, outTargets, 'out'), fixedOut, spliceHit(lastHalf, outTargets));
      }
      rows.push({ classes: kind, classCount: count, warmHitTarget: q, inSample: inFit, outOfSample: outFit });
    }
  });
  return rows;
}

/** The level the largest measured fixed target must reach, and the most measured. */
const CAP_LEVEL = 0.995;
const CAP_MAX = 40;

/**
 * The fixed targets a bound measures: 0 up to the cheapest fixed target reaching 0.995, plus
 * 2, at most 40. `known` holds hit rates already measured (a report's fixed runs): it
 * brackets the bisection, which runs only the targets it lacks.
 */
export function boundMaxTarget(jobs: readonly TraceJob[], options: SimOptions, known: ReadonlyMap<number, number>): number {
  const hits = new Map(known);
  const hit = (n: number) => {
    let h = hits.get(n);
    if (h === undefined) {
      h = hitOf(simulate(jobs, fixedPolicy(n), options));
      hits.set(n, h);
    }
    return h;
  };
  let lo = Math.max(-1, ...[...hits].filter(([n, h]) => h < CAP_LEVEL && n <= CAP_MAX).map(([n]) => n));
  let hi = Math.min(CAP_MAX + 1, ...[...hits].filter(([, h]) => h >= CAP_LEVEL).map(([n]) => n));
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (hit(mid) >= CAP_LEVEL) hi = mid;
    else lo = mid;
  }
  return Math.min(CAP_MAX, hi + 2);
}
