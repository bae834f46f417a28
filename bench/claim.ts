/**
 * bench:claim — the claim as deployed, next to a floor measured in the same run.
 *
 * Every function runs as Cloud Run runs it: its own Node.js process, functions-framework's
 * CLI on the compiled entry point (functions/index.ts → .bench-build/), configured by
 * environment alone, talking gRPC to the embedded Firestore and Pub/Sub emulators (this
 * process). The claim's refill request is really published to Pub/Sub. The floor is a
 * function deployed the same way doing the minimum a claim must do: one transaction that
 * reads one instance record and updates its state and claim (bench/functions/floor.ts).
 *
 * Scenarios:
 *   warm        c1 and c32, caches warm: p50 and throughput against the floor's.
 *   idleGap     one claim after an idle gap longer than every cache TTL, against the floor after the same gap.
 *   instances4  64 claimers over 4 instances sharing the emulator, against the same claimers on one
 *               instance; ~200 ready machines; commits per claim (every Commit the emulator saw, aborted
 *               ones included), false empties (503 while machines are ready), duplicates; measured in
 *               alternating rounds, with CPU per claim of every process and the emulator's work per
 *               claim (bench/support/instances.ts), and cpuNormalisedVsOne: claims per CPU-second, 4 vs 1.
 *   coldStart   a fresh process loading the entry as functions-framework's CLI does against one loading a
 *               functions-framework hello; the first claim of a fresh process (sent once its port accepts,
 *               as Cloud Run sends it) against the warm claims after it; spawn to first answer against the
 *               hello's (bench/support/cold-start.ts).
 * `--latency-ms N` puts a proxy adding N ms one way in front of both emulators.
 * `--functions-cpu C` gives the function processes of each instances configuration C cores in all, split
 * equally (a CFS quota per process, bench/support/cpu-budget.ts), so that one and four instances get the
 * same CPU and the emulator the rest; without it they share the machine's cores with the emulator.
 * `--json` prints one object.
 */
import { Command } from 'commander';
import Table from 'cli-table3';
import { PubSub } from '@google-cloud/pubsub';
import { FirestoreInstanceStore } from '../shared/adapters/firestore-instance-store.js';
import { FirestorePoolStore } from '../shared/adapters/firestore-pool-store.js';
import { createFirestore } from '../shared/adapters/firestore-client.js';
import { ensureTopology } from '../shared/adapters/pubsub-topology.js';
import { startFirestoreEmulator } from '../local/firestore/emulator.js';
import { startPubSubEmulator } from '../local/pubsub/emulator.js';
import { record, spec } from '../test/support/builders.js';
import { buildDeployed } from './support/build.js';
import { startLatencyProxy, type LatencyProxy } from './support/latency-proxy.js';
import { measureColdStart, type ColdStartReport } from './support/cold-start.js';
import { measureInstances } from './support/instances.js';
import { openCpuBudgets, type CpuBudgets } from './support/cpu-budget.js';
import { setFunctionNodeArgs, startFunction, type FunctionProcess } from './support/processes.js';

const program = new Command()
  .name('bench:claim')
  .description('the claim as deployed, against a floor measured in the same run')
  .option('--json', 'print one JSON object')
  .option('--requests <n>', 'claims per warm level', (v) => Number(v), 200)
  .option('--only <list>', 'run only these scenarios (warm,idle,instances,coldStart), for investigation; the report then lacks the others')
  .option('--latency-ms <n>', 'one-way latency added to every emulator call', (v) => Number(v), 0)
  .option('--idle-samples <n>', 'claims after an idle gap', (v) => Number(v), 15)
  .option('--node-args <flags>', 'extra Node.js flags for the function processes, for investigation (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p")', '')
  .option('--claimers <n>', 'concurrent claimers of the instances scenarios (at most 100)', (v) => Number(v), 64)
  .option('--rounds <n>', 'alternating rounds of one and of four instances the instances claims are split into', (v) => Number(v), 3)
  .option('--claims <n>', 'claims of the instances scenarios (64 claimers, pool kept at ~200 ready)', (v) => Number(v), 600)
  .option(
    '--functions-cpu <cores>',
    'CPU the function processes of each instances configuration get in all (split equally between them; 0: unbudgeted)',
    (v) => Number(v),
    0,
  )
  .option('--cold-samples <n>', 'fresh processes (and imports of each kind) of the cold-start scenario', (v) => Number(v), 5)
  .option('--cold-cpu-prof <dir>', 'write a CPU profile of each cold-start claim process to this directory')
  .parse();
const opts = program.opts<{
  only?: string;
  json?: boolean;
  requests: number;
  latencyMs: number;
  idleSamples: number;
  claims: number;
  coldSamples: number;
  coldCpuProf?: string;
  claimers: number;
  rounds: number;
  nodeArgs: string;
  functionsCpu: number;
}>();
if (!(opts.claimers >= 1 && opts.claimers <= 100)) throw new Error('--claimers must be between 1 and 100 (the pool is kept at 200 ready)');
if (!(opts.rounds >= 1)) throw new Error('--rounds must be at least 1');
setFunctionNodeArgs(opts.nodeArgs.split(' ').filter(Boolean));
const only = (s: string) => !opts.only || opts.only.split(',').includes(s);
const TOKEN = 'bench-claim-token-0123456789';
const PROJECT = 'warmer-bench';
/** Longer than every cache of the claim path (pool specs 2 s, candidates 1 s). */
const IDLE_GAP_MS = 2_500;
const CLAIMERS = opts.claimers;
const READY = 200;
/** Claims after the first on each cold-start process: the warm claim it is compared with. */
const COLD_WARM_CLAIMS = 10;
/** Claims each instance serves before the instances scenarios are measured. */
const WARMUP_PER_INSTANCE = 150;

const round = (n: number) => Math.round(n * 100) / 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};
const median = (xs: number[]) => quantile(xs, 0.5);

interface Stats {
  n: number;
  p50: number;
  p99: number;
  throughput: number;
}
const stats = (lat: number[], wallMs: number): Stats => ({
  n: lat.length,
  p50: round(quantile(lat, 0.5)),
  p99: round(quantile(lat, 0.99)),
  throughput: round((lat.length / wallMs) * 1000),
});

interface Outcome {
  status: number;
  code?: string;
  names: string[];
}

async function claimOnce(url: string, pool: string): Promise<Outcome> {
  const res = await fetch(`${url}/claim`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ pool }),
  });
  const body = (await res.json().catch(() => ({}))) as { instances?: Array<{ name: string }>; error?: { code?: string } };
  return { status: res.status, code: body.error?.code, names: (body.instances ?? []).map((i) => i.name) };
}

async function floorOnce(url: string, doc: string): Promise<Outcome> {
  const res = await fetch(`${url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ doc }) });
  await res.text();
  return { status: res.status, names: [] };
}

/** `total` calls by `concurrency` workers; `one(i)` makes call i (and so picks its instance). */
async function drive(total: number, concurrency: number, one: (i: number) => Promise<Outcome>) {
  const latencies: number[] = [];
  const outcomes: Outcome[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const s = performance.now();
        const o = await one(i);
        latencies.push(performance.now() - s);
        outcomes.push(o);
      }
    }),
  );
  return { stats: stats(latencies, performance.now() - t0), outcomes };
}

async function main() {
  const calls = { Commit: 0, reads: 0 };
  const firestore = await startFirestoreEmulator({
    onCall: (method) => {
      if (method === 'Commit') calls.Commit++;
      else if (method === 'RunQuery' || method === 'BatchGetDocuments' || method === 'RunAggregationQuery') calls.reads++;
    },
  });
  const publishes = { n: 0 };
  const pubsubEmulator = await startPubSubEmulator({ onCall: (method) => void (method === 'Publish' && publishes.n++) });
  const proxies: LatencyProxy[] = [];
  const via = async (hostPort: string) => {
    if (opts.latencyMs <= 0) return hostPort;
    const p = await startLatencyProxy(hostPort, opts.latencyMs);
    proxies.push(p);
    return p.hostPort;
  };
  const firestoreHost = await via(firestore.hostPort);
  const pubsubHost = await via(pubsubEmulator.hostPort);
  const pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: pubsubEmulator.hostPort, emulatorMode: true });
  await ensureTopology(pubsub, { teardownTopic: 'warmer-teardown', refillTopic: 'warmer-refill', deadLetterTopic: 'warmer-dead-letter' });
  const db = createFirestore({ projectId: PROJECT, emulatorHost: firestore.hostPort });
  const pools = new FirestorePoolStore(db);
  const instances = new FirestoreInstanceStore(db);
  const floorStore = new FirestoreInstanceStore(db, { prefix: 'floor_' });
  const env = {
    WARMER_PROJECT: PROJECT,
    WARMER_CLAIM_TOKENS: TOKEN,
    FIRESTORE_EMULATOR_HOST: firestoreHost,
    PUBSUB_EMULATOR_HOST: pubsubHost,
    WARMER_LOG_LEVEL: 'INFO',
  };
  const base = Date.now() - 1e7;
  let seq = 0;
  /** One commit per machine (counted by the emulator, subtracted where commits are reported). */
  const addReady = (pool: string, n: number) =>
    Promise.all(Array.from({ length: n }, () => instances.create(record({ pool, state: 'ready', at: base + ++seq, name: `${pool}-m${seq}` }))));
  const seed = async (pool: string, n: number) => {
    await pools.putPool(pool, spec({ targetReady: 0, maxSize: 5000 }), Date.now());
    await addReady(pool, n);
  };
  const seedFloor = async (n: number) =>
    Promise.all(Array.from({ length: n }, (_, i) => floorStore.create(record({ pool: 'floor', state: 'ready', at: base + i, name: `f${i}` })))).then(() => n);
  let floorNext = 0;
  const floorDoc = () => `f${floorNext++}`;

  buildDeployed();
  const warmN = opts.requests;
  await Promise.all([
    seed('warm-c1', warmN + 10),
    seed('warm-c32', warmN * 2 + 40),
    seed('idle', opts.idleSamples + 2),
    seed('cold', 20),
    seed('cold-start', opts.coldSamples * (1 + COLD_WARM_CLAIMS) + 5),
    seedFloor(warmN * 3 + 100 + opts.idleSamples),
  ]);
  const children: FunctionProcess[] = [];
  let budgets: CpuBudgets | null = null;
  const spawn = async (source: string, target: string) => {
    const f = await startFunction(source, target, env);
    children.push(f);
    return f;
  };
  try {
    // ── cold start (bench/support/cold-start.ts); its first claim process serves the scenarios below ──
    let coldStart: ColdStartReport | null = null;
    let one: FunctionProcess;
    if (only('coldStart')) {
      const cold = await measureColdStart({
        env,
        pool: 'cold-start',
        samples: opts.coldSamples,
        warmClaims: COLD_WARM_CLAIMS,
        nodeArgs: opts.coldCpuProf ? ['--cpu-prof', `--cpu-prof-dir=${opts.coldCpuProf}`] : [],
        claim: async (url, pool) => {
          const o = await claimOnce(url, pool);
          if (o.status !== 200) throw new Error(`cold-start claim failed: ${o.status} ${o.code}`);
        },
      });
      children.push(cold.kept);
      coldStart = cold.report;
      one = cold.kept;
    } else one = await spawn('functions/index.js', 'claim');
    const claimUrl = one!.url;
    const floor = await spawn('bench/functions/floor.js', 'floor');
    for (let i = 0; i < 5; i++) await floorOnce(floor.url, floorDoc());

    // ── warm ──
    const warm: Record<string, { claim: Stats; floor: Stats; p50Ratio: number; throughputRatio: number; errors: number }> = {};
    const claimed: string[] = [];
    for (const [key, c, n] of (only('warm')
      ? [
          ['c1', 1, warmN],
          ['c32', 32, warmN * 2],
        ]
      : []) as Array<[string, number, number]>) {
      const pool = `warm-${key}`;
      for (let i = 0; i < 5; i++) claimed.push(...(await claimOnce(claimUrl, pool)).names);
      const cl = await drive(n, c, () => claimOnce(claimUrl, pool));
      const fl = await drive(n, c, () => floorOnce(floor.url, floorDoc()));
      cl.outcomes.forEach((o) => claimed.push(...o.names));
      warm[key] = {
        claim: cl.stats,
        floor: fl.stats,
        p50Ratio: round(cl.stats.p50 / fl.stats.p50),
        throughputRatio: round(cl.stats.throughput / fl.stats.throughput),
        errors: [...cl.outcomes, ...fl.outcomes].filter((o) => o.status !== 200).length,
      };
    }

    // ── idle gap ──
    const idleClaim: number[] = [];
    const idleFloor: number[] = [];
    const idleCalls = { Commit: 0, reads: 0 };
    for (let i = 0; i < (only('idle') ? opts.idleSamples : 0); i++) {
      await sleep(IDLE_GAP_MS);
      const before = { ...calls };
      let t = performance.now();
      const o = await claimOnce(claimUrl, 'idle');
      idleClaim.push(performance.now() - t);
      idleCalls.Commit += calls.Commit - before.Commit;
      idleCalls.reads += calls.reads - before.reads;
      if (o.status !== 200) throw new Error(`idle claim failed: ${o.status} ${o.code}`);
      t = performance.now();
      await floorOnce(floor.url, floorDoc());
      idleFloor.push(performance.now() - t);
    }

    const skipInstances = !only('instances');
    const more = await Promise.all([1, 2, 3].map(() => spawn('functions/index.js', 'claim')));
    // Every instance equally warm (JIT, connections) before either configuration is measured,
    // so that no process is measured fresh from three claims while the first has served hundreds.
    for (const m of more) for (let i = 0; i < 3; i++) await claimOnce(m.url, 'cold');
    if (!skipInstances) {
      const procs4 = [one!, ...more];
      await seed('inst-warmup', WARMUP_PER_INSTANCE * procs4.length + CLAIMERS);
      const w = await drive(WARMUP_PER_INSTANCE * procs4.length, CLAIMERS, (i) => claimOnce(procs4[i % procs4.length]!.url, 'inst-warmup'));
      const failed = w.outcomes.filter((o) => o.status !== 200);
      if (failed.length > 0) throw new Error(`instances warm-up: ${failed.length} claims failed (${failed[0]!.status} ${failed[0]!.code})`);
    }
    // 64 claimers over 1, then over 4 instances, in alternating rounds (bench/support/instances.ts).
    if (opts.functionsCpu > 0 && !skipInstances) {
      budgets = openCpuBudgets();
      if (!budgets) throw new Error('--functions-cpu needs root and a writable cgroup CPU controller (bench/support/cpu-budget.ts)');
    }
    const { one: inst1, many: inst4 } = await measureInstances(
      {
        firestore,
        counts: () => ({ commits: calls.Commit, reads: calls.reads, publishes: publishes.n }),
        seed,
        addReady,
        claimOnce,
        claimers: CLAIMERS,
        claims: skipInstances ? 0 : opts.claims,
        rounds: skipInstances ? 0 : opts.rounds,
        ready: READY,
        verbose: opts.nodeArgs !== '',
        budget: budgets ? { budgets, totalCores: opts.functionsCpu } : null,
      },
      [one!, ...more],
    );

    const report = {
      bench: 'claim',
      node: process.version,
      latencyMs: opts.latencyMs,
      warm: Object.fromEntries(Object.entries(warm).map(([k, v]) => [k, { ...v }])),
      idleGap: {
        gapMs: IDLE_GAP_MS,
        claimP50: round(median(idleClaim)),
        floorP50: round(median(idleFloor)),
        p50Ratio: round(median(idleClaim) / median(idleFloor)),
        commitsPerClaim: round(idleCalls.Commit / opts.idleSamples),
        readCallsPerClaim: round(idleCalls.reads / opts.idleSamples),
      },
      // The function processes' CPU budget of the instances scenarios (bench/support/cpu-budget.ts).
      cpuBudget: budgets ? { functionsCores: opts.functionsCpu, cgroup: budgets.kind, periodMs: budgets.periodMs } : null,
      instances1: inst1,
      instances4: {
        ...inst4,
        throughputVsOne: round(inst4.throughput / inst1.throughput),
        // Claims per CPU-second of all processes, four instances against one: below 1 only if
        // four instances spend more CPU per claim (the throughput ratio also falls when the
        // processes merely share too few cores).
        cpuNormalisedVsOne: round(inst4.cpu.claimsPerCpuSecond / inst1.cpu.claimsPerCpuSecond),
      },
      coldStart,
      duplicatesWarm: claimed.length - new Set(claimed).size,
    };
    const targets = {
      warmC1P50: (report.warm.c1?.p50Ratio ?? NaN) <= 1.5,
      idleGapP50: report.idleGap.p50Ratio <= 2,
      c32Throughput: (report.warm.c32?.throughputRatio ?? NaN) >= 0.6,
      instances4Throughput: report.instances4.throughputVsOne >= 0.8,
      instances4Commits: report.instances4.commitsPerClaim <= 1.3,
      instances4FalseEmpty: report.instances4.falseEmpty === 0,
      instances4Duplicates: report.instances4.duplicates === 0 && report.duplicatesWarm === 0,
      importRatio: (report.coldStart?.importRatio ?? NaN) <= 2,
      firstClaimRatio: (report.coldStart?.firstClaimRatio ?? NaN) <= 3,
    };
    if (opts.json) {
      console.log(JSON.stringify({ ...report, targets }));
    } else {
      console.log(`bench:claim — deployed functions in their own processes, embedded emulators, +${opts.latencyMs} ms one way`);
      const t = new Table({ head: ['scenario', 'claim p50 ms', 'p99 ms', 'req/s', 'floor p50 ms', 'req/s', 'p50 ×floor', 'req/s ×floor'] });
      for (const [k, v] of Object.entries(report.warm)) {
        t.push([`warm ${k}`, v.claim.p50, v.claim.p99, v.claim.throughput, v.floor.p50, v.floor.throughput, v.p50Ratio, v.throughputRatio]);
      }
      t.push(['idle gap', report.idleGap.claimP50, '', '', report.idleGap.floorP50, '', report.idleGap.p50Ratio, '']);
      console.log(t.toString());
      const u = new Table({ head: ['instances', 'claims', 'req/s', 'p50 ms', 'commits/claim', 'false empties', 'duplicates', 'other errors'] });
      for (const [k, v] of [
        ['1', inst1],
        ['4', inst4],
      ] as const) {
        u.push([k, v.claims, v.throughput, v.p50, v.commitsPerClaim, v.falseEmpty, v.duplicates, v.otherErrors]);
      }
      console.log(u.toString());
      console.log(`4 instances: ${report.instances4.throughputVsOne}× the throughput of one`);
      const c = report.coldStart;
      if (c) {
        console.log(
          `cold start: import ${c.importEntryMs} ms = ${c.importRatio}× a functions-framework hello (${c.importHelloMs} ms; CPU ${c.importCpuRatio}×); ` +
            `first claim ${c.firstClaimMs} ms = ${c.firstClaimRatio}× a warm one (${c.warmClaimMs} ms); ` +
            `spawn to first answer ${c.spawnToFirstAnswerMs} ms (listening after ${c.spawnToListenMs} ms) = ${c.spawnToFirstAnswerRatio}× the hello's`,
        );
      }
      console.log(
        'targets: ' +
          Object.entries(targets)
            .map(([k, v]) => `${k} ${v ? 'met' : 'MISSED'}`)
            .join(', '),
      );
    }
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    budgets?.close();
    await Promise.all(proxies.map((p) => p.close()));
    await pubsub.close();
    await db.terminate();
    await pubsubEmulator.stop();
    await firestore.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
