/**
 * Runs the policies side by side on one trace and reports them in the shape of
 * `warmer simulate --json` / `npm run bench:sizing --json` (issue 13):
 * {trace, policies: [{name, warmHitRate, waitP50S, waitP95S, waitP99S, idleVmHours,
 * totalVmHours, cost}], comparison: [{warmHitTarget, demandIdleVmHours, bestFixedTarget,
 * bestFixedIdleVmHours, ratio}]}.
 */
import { simulate, type Policy, type SimOptions, type SimResult } from './engine.js';
import { demandPolicy, fixedPolicy, gitlabBusinessHours, travisPolicy, vmpoolerPolicy } from './policies.js';
import { foresightHistory } from './bound.js';
import type { ScheduleBoundRow } from './schedule-bound.js';
import type { TraceJob } from './trace.js';

export interface PolicyReport {
  name: string;
  warmHitRate: number;
  waitP50S: number;
  waitP95S: number;
  waitP99S: number;
  idleVmHours: number;
  totalVmHours: number;
  cost: number;
}

export interface ComparisonRow {
  warmHitTarget: number;
  demandIdleVmHours: number;
  bestFixedTarget: number | null;
  bestFixedIdleVmHours: number | null;
  ratio: number | null;
}

export interface SizingReport {
  trace: Record<string, unknown>;
  policies: PolicyReport[];
  comparison: ComparisonRow[];
  /**
   * With `foresight`: the same rows for demand sizing started with the whole trace's claims
   * in its history (it knows every hour's demand in advance): the most sizing could save on
   * this trace's shape (shared/sim/bound.ts).
   */
  foresight?: Array<ComparisonRow & { warmHitRate: number }>;
  /** With `bounds`: the best target schedule per class kind, in and out of sample (schedule-bound.ts). */
  bounds?: ScheduleBoundRow[];
}

/** How long one policy's replay took: wall time, and CPU time of this process (less sensitive to a loaded machine). */
export interface PolicyTiming {
  wallMs: number;
  cpuMs: number;
}

/** Starts timing; the returned function stops it. */
export function startTiming(): () => PolicyTiming {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(cpu);
    return { wallMs: performance.now() - wall, cpuMs: (used.user + used.system) / 1000 };
  };
}

export const WARM_HIT_TARGETS = [0.9, 0.95, 0.99] as const;

/** Nearest-rank percentile of an ascending list; 0 for an empty one. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] as number;
}

const round = (x: number, d: number) => Number(x.toFixed(d));

export function policyReport(r: SimResult, pricePerHour: number): PolicyReport {
  const totalH = r.totalMs / 3_600_000;
  return {
    name: r.name,
    warmHitRate: r.jobs === 0 ? 1 : round(r.warm / r.jobs, 4),
    waitP50S: round(percentile(r.coldWaitsMs, 50) / 1000, 1),
    waitP95S: round(percentile(r.coldWaitsMs, 95) / 1000, 1),
    waitP99S: round(percentile(r.coldWaitsMs, 99) / 1000, 1),
    idleVmHours: round(r.idleMs / 3_600_000, 2),
    totalVmHours: round(totalH, 2),
    cost: round(totalH * pricePerHour, 2),
  };
}

export interface CompareOptions extends SimOptions {
  pricePerHour: number;
  /** Largest fixed target searched (defaults to spec.maxSize). */
  maxFixed?: number;
  targets?: readonly number[];
  /** Also run the peers' policies (Travis warmer, vmpooler, GitLab). */
  peers?: boolean;
  /** Also run demand sizing with foresight of the whole trace (report.foresight). */
  foresight?: boolean;
  /** When given, filled with each policy's simulation time (wall and this process's CPU, ms), by name. */
  timings?: Map<string, PolicyTiming>;
}

/** Memoized runs by policy name, so searches never run a policy twice. */
class Runner {
  readonly results = new Map<string, SimResult>();
  constructor(
    private readonly jobs: readonly TraceJob[],
    private readonly options: SimOptions,
    private readonly timings?: Map<string, PolicyTiming>,
  ) {}
  run(p: Policy): SimResult {
    let r = this.results.get(p.name);
    if (!r) {
      const stop = startTiming();
      r = simulate(this.jobs, p, this.options);
      this.timings?.set(p.name, stop());
      this.results.set(p.name, r);
    }
    return r;
  }
  hit(p: Policy): number {
    const r = this.run(p);
    return r.jobs === 0 ? 1 : r.warm / r.jobs;
  }
}

/** The smallest n in [0, max] whose policy reaches `level` (hit rate grows with n), or null. */
function cheapest(runner: Runner, make: (n: number) => Policy, level: number, max: number): number | null {
  if (runner.hit(make(max)) < level) return null;
  let lo = 0;
  let hi = max;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (runner.hit(make(mid)) >= level) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function compareSizing(jobs: readonly TraceJob[], options: CompareOptions, trace: Record<string, unknown>): SizingReport {
  const runner = new Runner(jobs, options, options.timings);
  const targets = options.targets ?? WARM_HIT_TARGETS;
  const maxFixed = Math.min(options.maxFixed ?? options.spec.maxSize, options.spec.maxSize);
  const comparison: ComparisonRow[] = [];
  const ordered: string[] = [];
  /** A demand run against the cheapest fixed target reaching what it reached (the target, or less if it fell short). */
  const compare = (q: number, d: SimResult): { row: ComparisonRow; level: number; n: number | null } => {
    const dHit = d.jobs === 0 ? 1 : d.warm / d.jobs;
    const level = Math.min(q, dHit);
    const n = cheapest(runner, fixedPolicy, level, maxFixed);
    const fixedIdle = n === null ? null : runner.run(fixedPolicy(n)).idleMs / 3_600_000;
    const demandIdle = d.idleMs / 3_600_000;
    return {
      level,
      n,
      row: {
        warmHitTarget: q,
        demandIdleVmHours: round(demandIdle, 2),
        bestFixedTarget: n,
        bestFixedIdleVmHours: fixedIdle === null ? null : round(fixedIdle, 2),
        ratio: fixedIdle === null || fixedIdle === 0 ? null : round(demandIdle / fixedIdle, 3),
      },
    };
  };
  for (const q of targets) {
    const demand = demandPolicy({ warmHitTarget: q });
    ordered.push(demand.name);
    const { row, level, n } = compare(q, runner.run(demand));
    comparison.push(row);
    if (options.peers !== false) {
      const g = cheapest(runner, gitlabBusinessHours, level, maxFixed);
      if (g !== null) ordered.push(gitlabBusinessHours(g).name);
      if (n !== null) {
        runner.run(travisPolicy(n));
        runner.run(vmpoolerPolicy(n));
        ordered.push(travisPolicy(n).name, vmpoolerPolicy(n).name);
      }
    }
  }
  let foresight: SizingReport['foresight'];
  if (options.foresight) {
    const history = foresightHistory(jobs);
    foresight = targets.map((q) => {
      const d = runner.run({ ...demandPolicy({ warmHitTarget: q, history }), name: `foresight-demand-${q}` });
      return { ...compare(q, d).row, warmHitRate: d.jobs === 0 ? 1 : round(d.warm / d.jobs, 4) };
    });
  }
  const fixed = [...runner.results.keys()].filter((k) => k.startsWith('fixed-')).sort((a, b) => Number(a.slice(6)) - Number(b.slice(6)));
  const names = [...fixed, ...new Set(ordered)];
  const policies = names.map((n) => policyReport(runner.results.get(n) as SimResult, options.pricePerHour));
  return { trace, policies, comparison, ...(foresight ? { foresight } : {}) };
}
