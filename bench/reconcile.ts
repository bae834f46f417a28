/**
 * bench:reconcile — one scheduled pass (reconcileAll) in steady state, for P pools × M
 * ready machines each, against the local Firestore and Compute Engine emulators. Reports
 * the wall time per pass and, counted AT THE EMULATORS (their call hooks), Firestore
 * document reads and writes and Compute Engine API calls, per VM.
 *
 * Steady state: every pool full (targetReady = M, all ready), one warm-up pass (which
 * records probe times), then `--passes` measured passes; figures are the median pass.
 * Probes answer from memory (a prober that says "ok"): the bench is about the stores and
 * the API, not TCP. Passes run back to back, so ready machines are mostly not due a probe
 * (their interval is 10 s), as in a minute-apart schedule with a 10 s interval they would be.
 *
 * `--json` prints ONE JSON object.
 */
import { Command } from 'commander';
import Table from 'cli-table3';
import pLimit from 'p-limit';
import { createFirestore } from '../shared/adapters/firestore-client.js';
import { CachingPoolStore } from '../shared/adapters/caching-pool-store.js';
import { FirestoreInstanceStore } from '../shared/adapters/firestore-instance-store.js';
import { FirestorePoolStore } from '../shared/adapters/firestore-pool-store.js';
import { FirestorePoolRuntimeStore } from '../shared/adapters/firestore-runtime-store.js';
import { GceCompute } from '../shared/adapters/gce-compute.js';
import { systemClock } from '../shared/adapters/system-clock.js';
import { newInstanceRecord } from '../shared/domain/instance.js';
import { parsePoolSpec } from '../shared/domain/pool-spec.js';
import type { ProbeResult, ProbeTarget } from '../shared/domain/probe.js';
import { silentLogger } from '../shared/logging.js';
import type { Prober, Publisher } from '../shared/ports.js';
import { DEFAULT_SETTINGS, reconcileAll, type ReconcileDeps } from '../shared/services/reconcile.js';
import { startComputeEmulator } from '../local/compute/emulator.js';
import { startFirestoreEmulator } from '../local/firestore/emulator.js';

const program = new Command()
  .name('bench:reconcile')
  .description('one scheduled reconcile pass in steady state: wall time, Firestore reads/writes and Compute calls per VM')
  .option('--json', 'print one JSON object')
  .option('--sizes <list>', 'pools x machines, comma-separated', '10x10,30x30,100x100')
  .option('--passes <n>', 'measured passes per size', (v) => Number(v), 3)
  .parse();
const opts = program.opts<{ json?: boolean; sizes: string; passes: number }>();
const round2 = (n: number) => Math.round(n * 100) / 100;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** What the emulators saw. */
class Counters {
  firestore: Record<string, number> = {};
  reads = 0;
  writes = 0;
  compute: Record<string, number> = {};
  reset() {
    this.firestore = {};
    this.compute = {};
    this.reads = 0;
    this.writes = 0;
  }
  get computeCalls() {
    return Object.values(this.compute).reduce((a, b) => a + b, 0);
  }
  /** Billing-like counts: a returned document is a read, an aggregation a read per 1000 entries (≥ 1), a write per Commit write. */
  onFirestore(method: string, request: unknown, call: unknown) {
    this.firestore[method] = (this.firestore[method] ?? 0) + 1;
    const req = (request ?? {}) as { writes?: unknown[] };
    if (method === 'Commit') this.writes += req.writes?.length ?? 0;
    const c = call as { write?: (r: unknown, ...rest: unknown[]) => unknown } | null;
    if (c && typeof c.write === 'function' && (method === 'RunQuery' || method === 'BatchGetDocuments' || method === 'RunAggregationQuery')) {
      const write = c.write.bind(c);
      c.write = (r: unknown, ...rest: unknown[]) => {
        const res = (r ?? {}) as { document?: unknown; found?: unknown; result?: { aggregateFields?: Record<string, { integerValue?: string }> } };
        if (method === 'RunQuery' && res.document) this.reads++;
        if (method === 'BatchGetDocuments' && res.found) this.reads++;
        if (method === 'RunAggregationQuery' && res.result) {
          const n = Object.values(res.result.aggregateFields ?? {}).reduce((a, f) => a + Number(f.integerValue ?? 0), 0);
          this.reads += Math.max(1, Math.ceil(n / 1000));
        }
        return write(r, ...rest);
      };
    }
  }
}

const okProber: Prober = {
  probe: async (_t: ProbeTarget): Promise<ProbeResult> => ({ ok: true, durationMs: 1, banner: 'SSH-2.0-bench' }),
  probeMany: async (targets: ProbeTarget[]): Promise<ProbeResult[]> => targets.map(() => ({ ok: true, durationMs: 1, banner: 'SSH-2.0-bench' })),
};
const noPublisher: Publisher = { publishTeardown: async () => {}, publishRefill: async () => {} };

async function runSize(pools: number, machines: number) {
  const counters = new Counters();
  const firestoreEmu = await startFirestoreEmulator({ onCall: (m, r, c) => counters.onFirestore(m, r, c) });
  const computeEmu = await startComputeEmulator({
    // The machines never start their SSH servers (10,000 listeners would exhaust the file
    // descriptors); Compute Engine still lists them RUNNING, and the prober answers from memory.
    bootDelayMs: 3_600_000,
    bootJitterMs: 0,
    operationDelayMs: 5,
    addressBase: '127.95.0.1',
    logger: silentLogger,
    onApiCall: (kind) => (counters.compute[kind] = (counters.compute[kind] ?? 0) + 1),
  });
  const db = createFirestore({ projectId: 'bench', emulatorHost: firestoreEmu.hostPort });
  const compute = new GceCompute({ project: 'bench', endpoint: computeEmu.endpoint });
  const poolStore = new FirestorePoolStore(db);
  const instances = new FirestoreInstanceStore(db);
  const deps: ReconcileDeps = {
    pools: new CachingPoolStore(poolStore, systemClock),
    instances,
    runtime: new FirestorePoolRuntimeStore(db),
    compute,
    prober: okProber,
    publisher: noPublisher,
    clock: systemClock,
    logger: silentLogger,
    settings: { ...DEFAULT_SETTINGS },
  };
  try {
    // Seed the steady state: machines in Compute Engine with their labels, records ready.
    const zones = ['us-central1-a', 'us-central1-b', 'us-central1-c'];
    const limit = pLimit(64);
    const now = Date.now();
    for (let p = 0; p < pools; p++) {
      const pool = `bench-${p}`;
      const parsed = parsePoolSpec({
        image: 'projects/debian-cloud/global/images/family/debian-12',
        machineType: 'e2-small',
        zones,
        targetReady: machines,
        maxSize: machines * 2,
      });
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
      await poolStore.putPool(pool, parsed.spec, now);
      await Promise.all(
        Array.from({ length: machines }, (_, i) =>
          limit(async () => {
            const name = `${pool}-m${String(i).padStart(4, '0')}`;
            const zone = zones[i % zones.length]!;
            const info = await computeEmu.control.createInstance({ name, zone, labels: { 'warmer-pool': pool, 'warmer-managed': 'true', warmth: 'warmed' } });
            const r = newInstanceRecord({ name, pool, zone, requestId: `req-${name}`, now: now - 60_000 });
            r.state = 'ready';
            r.stateChangedAt.booting = now - 60_000;
            r.stateChangedAt.ready = now - 30_000;
            r.ip = info.ip ?? null;
            await instances.create(r);
          }),
        ),
      );
    }
    await reconcileAll(deps); // warm-up: probe times, runtime documents, clients connected
    const passes: Array<{
      ms: number;
      reads: number;
      writes: number;
      computeCalls: number;
      firestore: Record<string, number>;
      compute: Record<string, number>;
    }> = [];
    for (let i = 0; i < opts.passes; i++) {
      counters.reset();
      const t0 = performance.now();
      const out = await reconcileAll(deps);
      const ms = performance.now() - t0;
      const bad = out.filter((s) => s.outcome !== 'done' || s.created > 0 || s.tornDown > 0);
      if (bad.length > 0) throw new Error(`not a steady state: ${JSON.stringify(bad[0])}`);
      passes.push({
        ms,
        reads: counters.reads,
        writes: counters.writes,
        computeCalls: counters.computeCalls,
        firestore: { ...counters.firestore },
        compute: { ...counters.compute },
      });
    }
    const vms = pools * machines;
    const mid = [...passes].sort((a, b) => a.ms - b.ms)[Math.floor(passes.length / 2)]!;
    return {
      pools,
      machinesPerPool: machines,
      vms,
      poolConcurrency: deps.settings.poolConcurrency,
      passMs: round2(median(passes.map((p) => p.ms))),
      firestoreReadsPerVm: round2(median(passes.map((p) => p.reads)) / vms),
      firestoreWritesPerVm: round2(median(passes.map((p) => p.writes)) / vms),
      computeCallsPerVm: round2(median(passes.map((p) => p.computeCalls)) / vms),
      firestoreReads: median(passes.map((p) => p.reads)),
      firestoreWrites: median(passes.map((p) => p.writes)),
      computeCalls: median(passes.map((p) => p.computeCalls)),
      firestoreRpcs: mid.firestore,
      computeByKind: mid.compute,
    };
  } finally {
    await compute.close().catch(() => {});
    await db.terminate().catch(() => {});
    await computeEmu.stop().catch(() => {});
    await firestoreEmu.stop().catch(() => {});
  }
}

async function main() {
  const sizes = opts.sizes.split(',').map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    if (!m) throw new Error(`bad size "${s}": use POOLSxMACHINES, e.g. 30x30`);
    return [Number(m[1]), Number(m[2])] as const;
  });
  const started = performance.now();
  const results = [];
  for (const [p, m] of sizes) results.push(await runSize(p, m));
  const out = { bench: 'reconcile', passesPerSize: opts.passes, totalMs: Math.round(performance.now() - started), results };
  if (opts.json) {
    console.log(JSON.stringify(out));
    return;
  }
  const table = new Table({ head: ['pools×machines', 'VMs', 'pass ms', 'FS reads/VM', 'FS writes/VM', 'GCE calls/VM', 'GCE calls'] });
  for (const r of results)
    table.push([
      `${r.pools}×${r.machinesPerPool}`,
      r.vms,
      r.passMs,
      r.firestoreReadsPerVm,
      r.firestoreWritesPerVm,
      r.computeCallsPerVm,
      JSON.stringify(r.computeByKind),
    ]);
  console.log(table.toString());
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
