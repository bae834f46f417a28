/**
 * bench:claim's instances scenarios: the same claimers over one function instance, then
 * over four sharing one emulator, on pools kept at about READY ready machines.
 *
 * On this machine the function processes, the emulators and the claimers share a few
 * cores (Cloud Run gives each instance its own), and other work on the machine changes
 * how much CPU they get from one second to the next. So:
 * - the configurations are measured in alternating rounds (1, 4, 4, 1, 1, 4, ...) and each
 *   figure pools its rounds, so that a change of load hits both alike;
 * - every process's CPU time is measured (/proc/PID/stat for the function processes,
 *   process.cpuUsage() for this one, which runs both emulators, the claimers and the
 *   top-up), and reported per claim with claims per CPU-second next to the throughput;
 * - the emulator's own work per claim is counted (queries, documents scanned and read,
 *   transactions, commits, aborts, rollbacks, refill publishes).
 */
import type { FirestoreEmulator } from '../../local/firestore/emulator.js';
import type { StoreStats } from '../../local/firestore/stats.js';
import type { CpuBudgets } from './cpu-budget.js';
import type { FunctionProcess } from './processes.js';

export interface ClaimAnswer {
  status: number;
  code?: string;
  names: string[];
}

export interface InstancesSetup {
  firestore: FirestoreEmulator;
  /** Commit RPCs and read RPCs the Firestore emulator served, and Publish RPCs of the Pub/Sub emulator, so far. */
  counts: () => { commits: number; reads: number; publishes: number };
  /** Creates the pool with `n` ready machines; addReady adds `n` more (one commit each). */
  seed: (pool: string, n: number) => Promise<unknown>;
  addReady: (pool: string, n: number) => Promise<unknown>;
  claimOnce: (url: string, pool: string) => Promise<ClaimAnswer>;
  claimers: number;
  /** Claims per configuration, over all rounds. */
  claims: number;
  rounds: number;
  ready: number;
  /** Prints each round's monotonic time window and per-process CPU on stderr (to split --cpu-prof profiles). */
  verbose: boolean;
  /**
   * CPU the function processes of a configuration get in all, split equally between them
   * (one instance: all of it; four: a quarter each), or null: unbudgeted.
   */
  budget: { budgets: CpuBudgets; totalCores: number } | null;
}

interface Round {
  served: number;
  latencies: number[];
  wallMs: number;
  falseEmpty: number;
  otherErrors: number;
  names: string[];
  commits: number;
  reads: number;
  publishes: number;
  functionsCpuMs: number;
  functionsMainThreadCpuMs: number;
  benchCpuMs: number;
  throttledMs: number;
  store: StoreStats;
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};

/** Pools seeded already: a configuration's rounds claim from one pool, kept at READY ready machines. */
const seeded = new Set<string>();

async function runRound(setup: InstancesSetup, procs: FunctionProcess[], pool: string, claims: number): Promise<Round> {
  if (!seeded.has(pool)) {
    seeded.add(pool);
    await setup.seed(pool, setup.ready);
  }
  let served = 0;
  let created = 0;
  let running = true;
  // One machine added per claim served, straight to the emulator (its commits are subtracted).
  const topUp = (async () => {
    while (running) {
      const n = served - created;
      if (n > 0) {
        created += n;
        await setup.addReady(pool, n);
      } else await sleep(5);
    }
  })();
  const r: Round = {
    served: 0,
    latencies: [],
    wallMs: 0,
    falseEmpty: 0,
    otherErrors: 0,
    names: [],
    commits: 0,
    reads: 0,
    publishes: 0,
    functionsCpuMs: 0,
    functionsMainThreadCpuMs: 0,
    benchCpuMs: 0,
    throttledMs: 0,
    store: setup.firestore.store.stats,
  };
  const budget = setup.budget;
  if (budget) procs.forEach((_, i) => budget.budgets.limit(i, budget.totalCores / procs.length));
  const throttledBefore = budget ? procs.map((_, i) => budget.budgets.throttled(i).ms) : [];
  const countsBefore = setup.counts();
  const storeBefore = setup.firestore.store.stats;
  const cpuBefore = { bench: process.cpuUsage(), functions: procs.map((p) => p.cpuMs()), mainThreads: procs.map((p) => p.mainThreadCpuMs()) };
  const monoStart = process.hrtime.bigint() / 1000n;
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: setup.claimers }, async () => {
      while (next < claims) {
        const i = next++;
        const s = performance.now();
        const o = await setup.claimOnce(procs[i % procs.length]!.url, pool);
        r.latencies.push(performance.now() - s);
        if (o.status === 200) {
          served++;
          r.names.push(...o.names);
        } else if (o.status === 503 && o.code === 'pool_empty') r.falseEmpty++;
        else r.otherErrors++;
      }
    }),
  );
  r.wallMs = performance.now() - t0;
  const bench = process.cpuUsage(cpuBefore.bench);
  const perProcess = procs.map((p, i) => p.cpuMs() - cpuBefore.functions[i]!);
  const perMainThread = procs.map((p, i) => p.mainThreadCpuMs() - cpuBefore.mainThreads[i]!);
  const storeAfter = setup.firestore.store.stats;
  const countsAfter = setup.counts();
  if (setup.verbose) {
    console.error(
      `${pool}: monotonic µs ${monoStart}..${process.hrtime.bigint() / 1000n}; function CPU ms ${perProcess.map(Math.round).join(' ')}; ` +
        `bench process CPU user ${Math.round(bench.user / 1000)} ms, system ${Math.round(bench.system / 1000)} ms`,
    );
  }
  running = false;
  await topUp;
  if (budget) r.throttledMs = procs.reduce((a, _, i) => a + budget.budgets.throttled(i).ms - throttledBefore[i]!, 0);
  r.served = served;
  r.functionsCpuMs = perProcess.reduce((a, b) => a + b, 0);
  r.functionsMainThreadCpuMs = perMainThread.reduce((a, b) => a + b, 0);
  r.benchCpuMs = (bench.user + bench.system) / 1000;
  r.commits = countsAfter.commits - countsBefore.commits - created;
  r.reads = countsAfter.reads - countsBefore.reads;
  r.publishes = countsAfter.publishes - countsBefore.publishes;
  r.store = Object.fromEntries(Object.entries(storeAfter).map(([k, v]) => [k, v - storeBefore[k as keyof StoreStats]])) as unknown as StoreStats;
  return r;
}

/** One configuration's figures, pooled over its rounds. */
function summary(rounds: Round[]) {
  const sum = (f: (r: Round) => number) => rounds.reduce((a, r) => a + f(r), 0);
  const served = sum((r) => r.served);
  const perClaim = (n: number) => round2(n / Math.max(1, served));
  const latencies = rounds.flatMap((r) => r.latencies);
  const wallMs = sum((r) => r.wallMs);
  const functionsCpuMs = sum((r) => r.functionsCpuMs);
  const benchCpuMs = sum((r) => r.benchCpuMs);
  const names = rounds.flatMap((r) => r.names);
  const store = (k: keyof StoreStats) => perClaim(sum((r) => r.store[k]));
  return {
    claims: served,
    rounds: rounds.length,
    throughput: round2((served / wallMs) * 1000),
    p50: round2(quantile(latencies, 0.5)),
    p99: round2(quantile(latencies, 0.99)),
    commitsPerClaim: perClaim(sum((r) => r.commits)),
    readCallsPerClaim: perClaim(sum((r) => r.reads)),
    // The pool never drops below READY - claimers ready machines: every 503 pool_empty is false.
    falseEmpty: sum((r) => r.falseEmpty),
    otherErrors: sum((r) => r.otherErrors),
    duplicates: names.length - new Set(names).size,
    cpu: {
      /** Time the function processes spent throttled by their CPU budget, per claim (summed over processes). */
      functionsThrottledMsPerClaim: perClaim(sum((r) => r.throttledMs)),
      functionsMsPerClaim: perClaim(functionsCpuMs),
      /** Of which on the processes' main threads (/proc/PID/schedstat); the rest is V8's GC and compiler threads and libuv's pool. */
      functionsMainThreadMsPerClaim: perClaim(sum((r) => r.functionsMainThreadCpuMs)),
      benchProcessMsPerClaim: perClaim(benchCpuMs),
      totalMsPerClaim: perClaim(functionsCpuMs + benchCpuMs),
      /** Claims per CPU-second of every process of the scenario. */
      claimsPerCpuSecond: round2((served / Math.max(1, functionsCpuMs + benchCpuMs)) * 1000),
      /** Cores busy on average while it ran. */
      coresBusy: round2((functionsCpuMs + benchCpuMs) / wallMs),
    },
    emulator: {
      queriesPerClaim: store('queries'),
      queryDocsScannedPerClaim: store('queryDocsScanned'),
      queryDocsReturnedPerClaim: store('queryDocsReturned'),
      docsReadPerClaim: store('docsRead'),
      transactionsPerClaim: store('transactions'),
      transactionCommitsPerClaim: store('transactionCommits'),
      abortsPerClaim: store('aborts'),
      rollbacksPerClaim: store('rollbacks'),
      /** Refill requests published: each instance coalesces its own, about one per publish round trip. */
      pubsubPublishesPerClaim: perClaim(sum((r) => r.publishes)),
    },
  };
}

export type InstancesFigures = ReturnType<typeof summary>;

/** Alternating rounds of one instance (`procs[0]`) and of all of `procs`. */
export async function measureInstances(setup: InstancesSetup, procs: FunctionProcess[]): Promise<{ one: InstancesFigures; many: InstancesFigures }> {
  const one: Round[] = [];
  const many: Round[] = [];
  const perRound = Math.ceil(setup.claims / setup.rounds);
  const budget = setup.budget;
  if (budget) procs.forEach((p, i) => budget.budgets.attach(i, p.pid!));
  for (let i = 0; i < setup.rounds; i++) {
    const order = i % 2 === 0 ? (['one', 'many'] as const) : (['many', 'one'] as const);
    for (const which of order) {
      if (which === 'one') one.push(await runRound(setup, procs.slice(0, 1), 'inst1', perRound));
      else many.push(await runRound(setup, procs, `inst${procs.length}`, perRound));
    }
  }
  return { one: summary(one), many: summary(many) };
}
