/**
 * bench:sizing — replays a real CI trace through warmer's decision code under fixed
 * targets, the peers' policies and demand sizing (issue 13).
 *
 * Targets: demand sizing reaches each warm-hit target (0.90, 0.95, 0.99) at ≤ 0.7× the
 * idle VM-hours of the cheapest fixed target reaching it, and beats the GitLab-style
 * schedule; a simulated day of one pool under 50 ms.  `--json` prints ONE object:
 * {trace, policies, comparison, foresight, bounds}.
 *
 * The default trace is shared/traces/bitcoin-ci-2025-09.csv next to the repository (found
 * from this file, or from the main checkout when run in a git worktree).
 *
 * Speed: each policy's replay is timed alone (wall time of `simulate`, everything the
 * simulation does) and divided by the replayed trace's days, warm-up included (those days
 * are simulated too): `msPerPolicyDay` per policy in `--json`, and the largest per kind;
 * `cpuMsPerPolicyDay` the same with this process's CPU time (steadier on a loaded machine).
 * These are steady-state figures: before the timed runs, the first `--jit-warm-up-days` (14)
 * of the trace are replayed once under demand-0.95, -0.9, -0.99 and fixed-8, untimed for the
 * table (V8 optimises the simulator's functions over about three replays of a month; a
 * 3-day warm-up left the first timed demand run at 1.5x the later ones); what each warm-up
 * replay cost per day is `trace.jitWarmUp.firstRunMsPerPolicyDay`.
 * `--no-foresight` skips the bound rows (`foresight`: demand sizing started knowing the whole
 * trace's demand, the most sizing could save on its shape; shared/sim/bound.ts).
 * `--synthetic` replays a differently shaped seeded trace instead; `--from-day/--to-day`
 * replay a slice (e.g. a held-out second half).
 *
 * Schedule bounds (`bounds` in `--json`, shared/sim/schedule-bound.ts; `--no-bounds` skips
 * them): for each class kind (one, hour of day, hour of week, weekday/weekend × hour, time
 * since the last claim) and warm-hit target, the best target schedule keyed on those classes,
 * fitted with hindsight on the measured window (`inSample`) and fitted on its first half then
 * replayed on the second (`outOfSample`), each replayed through the simulator and compared
 * with the cheapest fixed target reaching the same hit rate over the same window. They are
 * computed after the report, untimed by it; their cost is `trace.bounds` (elapsedMs, cpuMs,
 * and maxTarget: the fixed targets 0..maxTarget are measured, maxTarget the cheapest fixed
 * target reaching 0.995 plus 2, at most 40).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { simulateText } from '../cli/simulate.js';
import { runSizing } from '../shared/sim/run.js';
import type { PolicyTiming } from '../shared/sim/report.js';
import { syntheticTrace } from '../shared/sim/synthetic.js';
import { parseTrace, sliceTrace, type Trace } from '../shared/sim/trace.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TRACE_NAME = 'shared/traces/bitcoin-ci-2025-09.csv';

/** Where the shared trace may be: next to this repository, or next to the main checkout of a worktree. */
function traceCandidates(): string[] {
  const candidates = [resolve(ROOT, '..', TRACE_NAME)];
  try {
    const common = execFileSync('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const main = resolve(dirname(common), '..', TRACE_NAME);
    if (!candidates.includes(main)) candidates.push(main);
  } catch {
    // not a git checkout: only the path next to the repository
  }
  return candidates;
}
const CANDIDATES = traceCandidates();
const DEFAULT_TRACE = CANDIDATES.find((c) => existsSync(c)) ?? (CANDIDATES[0] as string);

const num = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${v}`);
  return n;
};
const program = new Command()
  .name('bench:sizing')
  .description('sizing policies side by side on a CI trace')
  .option('--json', 'print one JSON object')
  .option('--trace <file>', 'the trace CSV', DEFAULT_TRACE)
  .option('--synthetic', 'a seeded synthetic trace of another shape instead of the file')
  .option('--from-day <d>', 'replay from this day of the trace', num)
  .option('--to-day <d>', 'replay up to this day of the trace', num)
  .option('--warmup-days <d>', 'days replayed, not counted', num, 7)
  .option('--seed <n>', 'boot model seed', num, 1)
  .option(
    '--jit-warm-up-days <d>',
    'days replayed once under demand-0.95, -0.9, -0.99 and fixed-8 before the timed runs (0: none; the figures then include the JIT warm-up)',
    num,
    14,
  )
  .option('--no-foresight', 'skip the foresight bound (demand sizing knowing the whole trace in advance)')
  .option('--no-bounds', 'skip the schedule bounds (the best target schedule per class kind, in and out of sample)')
  .parse();
const opts = program.opts<{
  json?: boolean;
  trace: string;
  synthetic?: boolean;
  fromDay?: number;
  toDay?: number;
  warmupDays: number;
  seed: number;
  foresight: boolean;
  bounds: boolean;
  jitWarmUpDays: number;
}>();

let trace: Trace;
let file: string;
if (opts.synthetic) {
  trace = { jobs: syntheticTrace({ days: 28 }), skipped: 0 };
  file = 'synthetic (shared/sim/synthetic.ts, 28 days, seed 7)';
} else {
  if (!existsSync(opts.trace)) {
    process.stderr.write(
      `bench:sizing: no trace at ${opts.trace}\n  (${opts.trace === DEFAULT_TRACE ? `looked for the default in ${CANDIDATES.join(', ')}; ` : ''}pass --trace FILE, or --synthetic)\n`,
    );
    process.exit(2);
  }
  trace = parseTrace(readFileSync(opts.trace, 'utf8'));
  file = opts.trace;
}
if (opts.fromDay !== undefined || opts.toDay !== undefined) {
  const first = trace.jobs[0]?.startMs ?? 0;
  trace = {
    ...trace,
    jobs: sliceTrace(trace.jobs, first + (opts.fromDay ?? 0) * 86_400_000, opts.toDay === undefined ? Infinity : first + opts.toDay * 86_400_000),
  };
}

const timings = new Map<string, PolicyTiming>();
const report = runSizing(trace, {
  file,
  warmupDays: opts.warmupDays,
  seed: opts.seed,
  timings,
  foresight: opts.foresight,
  jitWarmUpDays: opts.jitWarmUpDays,
  bounds: opts.bounds,
});
const days = Number(report.trace.days) - opts.warmupDays;
// The days each policy replayed: the trace's span (the lead-in hour and the drain after the
// last job are simulated too, so this slightly overstates the cost of a day).
const replayedDays = ((trace.jobs.at(-1)?.startMs ?? 0) - (trace.jobs[0]?.startMs ?? 0)) / 86_400_000;
const perDay = (ms: number) => Number((ms / Math.max(replayedDays, 1 / 24)).toFixed(2));
const msPerDay = (name: string) => perDay(timings.get(name)?.wallMs ?? 0);
const cpuMsPerDay = (name: string) => perDay(timings.get(name)?.cpuMs ?? 0);
const kindOf = (name: string) => name.replace(/-[\d.]+$/, '').replace(/^gitlab-taskscaler$/, 'gitlab');
const worstByKind: Record<string, number> = {};
const worstCpuByKind: Record<string, number> = {};
for (const p of report.policies) {
  worstByKind[kindOf(p.name)] = Math.max(worstByKind[kindOf(p.name)] ?? 0, msPerDay(p.name));
  worstCpuByKind[kindOf(p.name)] = Math.max(worstCpuByKind[kindOf(p.name)] ?? 0, cpuMsPerDay(p.name));
}
const demandRuns = report.policies.filter((p) => p.name.startsWith('demand-'));
const checks = report.comparison.map((c) => {
  const demand = report.policies.find((p) => p.name === `demand-${c.warmHitTarget}`);
  const gitlab = report.policies
    .filter((p) => p.name.startsWith('gitlab-') && p.warmHitRate >= Math.min(c.warmHitTarget, demand?.warmHitRate ?? 1))
    .sort((a, b) => a.idleVmHours - b.idleVmHours)[0];
  return {
    warmHitTarget: c.warmHitTarget,
    reached: (demand?.warmHitRate ?? 0) >= c.warmHitTarget,
    ratioOk: c.ratio !== null && c.ratio <= 0.7,
    beatsGitlab: gitlab === undefined || (demand?.idleVmHours ?? Infinity) < gitlab.idleVmHours,
    gitlab: gitlab ? `${gitlab.name}: ${gitlab.idleVmHours} idle VM-h` : 'none reaches it',
  };
});
if (opts.json) {
  const out = {
    ...report,
    trace: {
      ...report.trace,
      msPerPolicyDay: { max: Math.max(0, ...Object.values(worstByKind)), maxByKind: worstByKind },
      cpuMsPerPolicyDay: { max: Math.max(0, ...Object.values(worstCpuByKind)), maxByKind: worstCpuByKind },
    },
    policies: report.policies.map((p) => ({ ...p, msPerPolicyDay: msPerDay(p.name), cpuMsPerPolicyDay: cpuMsPerDay(p.name) })),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} else {
  process.stdout.write(simulateText(report));
  for (const c of checks) {
    process.stdout.write(
      `target ${c.warmHitTarget}: demand reached it ${c.reached ? 'yes' : 'NO'}; ≤ 0.7× fixed ${c.ratioOk ? 'yes' : 'NO'}; beats GitLab (${c.gitlab}) ${c.beatsGitlab ? 'yes' : 'NO'}\n`,
    );
  }
  process.stdout.write(
    `${report.policies.length} policies over ${days.toFixed(1)} counted days (${report.trace.days} replayed) in ${report.trace.elapsedMs} ms; demand runs: ${demandRuns.length}\n`,
  );
  for (const f of report.foresight ?? [])
    process.stdout.write(
      `foresight bound at ${f.warmHitTarget}: demand sizing knowing the whole trace reaches ${f.warmHitRate} at ${f.demandIdleVmHours} idle VM-h, ${f.ratio ?? '–'}× fixed-${f.bestFixedTarget ?? '–'}\n`,
    );
  const worst = Object.entries(worstByKind).map(([k, ms]) => `${k} ${ms} (CPU ${worstCpuByKind[k]})`);
  const warm = report.trace.jitWarmUp as { days: number; firstRunMsPerPolicyDay: Record<string, number> } | undefined;
  const first = warm
    ? `; before them, a first ${warm.days}-day replay (JIT warm-up): ${Object.entries(warm.firstRunMsPerPolicyDay)
        .map(([k, ms]) => `${k} ${ms}`)
        .join(', ')}`
    : ' (including the JIT warm-up)';
  process.stdout.write(`ms per simulated pool-day (target < 50), the slowest of each kind: ${worst.join(', ')}${first}\n`);
}
