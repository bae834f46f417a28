/**
 * bench:claim — claim latency (p50/p99) and throughput at concurrency 1, 8 and 32,
 * through the real HTTP stack (functions-framework) and the embedded Firestore emulator,
 * next to a floor measured in the same run: the same HTTP stack and emulator doing the
 * minimum a claim must do (one transaction that reads one instance record and updates
 * its state and claim).
 *
 * Targets: claim p50 ≤ 2× the floor's p50; claim throughput at 32 ≥ ½ the floor's;
 * zero duplicate machines.   `--json` prints one JSON object.
 */
import { Command } from 'commander';
import Table from 'cli-table3';
import type { Request, Response } from '@google-cloud/functions-framework';
import { FirestoreInstanceStore } from '../shared/adapters/firestore-instance-store.js';
import { FirestorePoolStore } from '../shared/adapters/firestore-pool-store.js';
import { createFirestore } from '../shared/adapters/firestore-client.js';
import { FirestoreHistoryStore } from '../shared/adapters/firestore-history.js';
import { silentLogger } from '../shared/logging.js';
import type { Publisher } from '../shared/ports.js';
import type { ApiDeps } from '../shared/services/deps.js';
import { createApiHandler } from '../functions/http/api.js';
import { startFirestoreEmulator } from '../local/firestore/emulator.js';
import { record, spec } from '../test/support/builders.js';
import { serveFunction } from '../test/support/http.js';

const program = new Command()
  .name('bench:claim')
  .description('claim latency and throughput against a floor measured in the same run')
  .option('--json', 'print one JSON object')
  .option('--requests <n>', 'requests per concurrency level', (v) => Number(v), 320)
  .option('--concurrency <list>', 'comma-separated levels', '1,8,32')
  .parse();
const opts = program.opts<{ json?: boolean; requests: number; concurrency: string }>();
const levels = opts.concurrency.split(',').map(Number);
const TOKEN = 'bench-claim-token-0123456789';

interface Stats {
  p50: number;
  p99: number;
  mean: number;
  throughput: number;
  errors: number;
}

function stats(latencies: number[], wallMs: number, errors: number): Stats {
  const s = [...latencies].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return {
    p50: round(q(0.5)),
    p99: round(q(0.99)),
    mean: round(s.reduce((a, b) => a + b, 0) / s.length),
    throughput: round((latencies.length / wallMs) * 1000),
    errors,
  };
}
const round = (n: number) => Math.round(n * 100) / 100;

async function drive(total: number, concurrency: number, one: (i: number) => Promise<boolean>): Promise<Stats> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const s = performance.now();
        const ok = await one(i);
        latencies.push(performance.now() - s);
        if (!ok) errors++;
      }
    }),
  );
  return stats(latencies, performance.now() - t0, errors);
}

async function main() {
  const emulator = await startFirestoreEmulator();
  const db = createFirestore({ projectId: 'warmer-bench', emulatorHost: emulator.hostPort });
  const prefix = `bench${Date.now()}_`;
  const pools = new FirestorePoolStore(db, { prefix });
  const instances = new FirestoreInstanceStore(db, { prefix });
  let refills = 0;
  const publisher: Publisher = {
    // Counted, not sent: Pub/Sub is not what is measured here (the publish runs alongside
    // the history write below, which is measured).
    publishRefill: async () => void refills++,
    publishTeardown: async () => {},
  };
  // As in production, each claim also records a history event (for the status page) in Firestore.
  const history = new FirestoreHistoryStore(db, { prefix });
  const deps: ApiDeps = { pools, instances, publisher, history, clock: { now: () => Date.now() }, logger: silentLogger };
  const claimServer = await serveFunction(
    createApiHandler(
      'claim',
      () => ({ claimTokens: [TOKEN], adminTokens: [], project: 'bench', maxBodyBytes: 65536, retryAfterSeconds: 5 }),
      async () => deps,
      () => silentLogger,
    ),
  );
  // The floor: the same stack, one transaction that reads one document and updates it.
  // The documents are instance records like the claim's (the same size to read and
  // decode), and the update sets only what a claim must: the state and the claim.
  const floorStore = new FirestoreInstanceStore(db, { prefix: `${prefix}floor_` });
  const floorCol = db.collection(`${prefix}floor_instances`);
  const floorServer = await serveFunction(async (req: Request, res: Response) => {
    const ref = floorCol.doc(String((req.body as { doc: string }).doc));
    const out = await db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const d = snap.data() as { state: string };
      const now = Date.now();
      tx.update(ref, { state: 'claimed', updatedAt: now, claim: { requestId: String(now), assignee: null, labels: {}, claimedAt: now, expiresAt: null } });
      return d.state;
    });
    res.status(200).json({ state: out });
  });

  const results: Array<{ concurrency: number; claim: Stats; floor: Stats; ratioP50: number; ratioThroughput: number; duplicates: number }> = [];
  let allDuplicates = 0;
  for (const c of levels) {
    const pool = `bench-c${c}`;
    await pools.putPool(pool, spec({ targetReady: 0, maxSize: 5000 }), Date.now());
    const base = Date.now() - 1e6;
    await Promise.all(Array.from({ length: opts.requests }, (_, i) => instances.create(record({ pool, state: 'ready', at: base + i, name: `${pool}-m${i}` }))));
    await Promise.all(
      Array.from({ length: opts.requests }, (_, i) => floorStore.create(record({ pool: `floor-c${c}`, state: 'ready', at: base + i, name: `c${c}-${i}` }))),
    );

    // Warm both paths (connections, JIT) before measuring.
    for (let i = 0; i < 5; i++) {
      await fetch(`${floorServer.url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ doc: `c${c}-${i}` }) });
    }

    const claimed: string[] = [];
    const claim = await drive(opts.requests - 5, c, async () => {
      const res = await fetch(`${claimServer.url}/claim`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ pool }),
      });
      const body = (await res.json()) as { instances?: Array<{ name: string }> };
      if (res.status !== 200) return false;
      for (const i of body.instances ?? []) claimed.push(i.name);
      return true;
    });
    const floor = await drive(opts.requests - 5, c, async (i) => {
      const res = await fetch(`${floorServer.url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ doc: `c${c}-${i + 5}` }),
      });
      await res.text();
      return res.status === 200;
    });
    const duplicates = claimed.length - new Set(claimed).size;
    allDuplicates += duplicates;
    results.push({
      concurrency: c,
      claim,
      floor,
      ratioP50: round(claim.p50 / floor.p50),
      ratioThroughput: round(claim.throughput / floor.throughput),
      duplicates,
    });
  }

  const at32 = results.find((r) => r.concurrency === 32);
  const targets = {
    p50WithinTwiceFloor: results.every((r) => r.ratioP50 <= 2),
    throughputAt32AtLeastHalfFloor: at32 ? at32.ratioThroughput >= 0.5 : null,
    zeroDuplicates: allDuplicates === 0,
    noErrors: results.every((r) => r.claim.errors === 0 && r.floor.errors === 0),
  };
  const report = { bench: 'claim', requestsPerLevel: opts.requests - 5, node: process.version, results, targets, refillsRequested: refills };

  if (opts.json) {
    console.log(JSON.stringify(report));
  } else {
    const t = new Table({
      head: ['conc.', 'claim p50 ms', 'p99 ms', 'req/s', 'floor p50 ms', 'p99 ms', 'req/s', 'p50 ×floor', 'req/s ×floor', 'dups', 'errors'],
    });
    for (const r of results) {
      t.push([
        r.concurrency,
        r.claim.p50,
        r.claim.p99,
        r.claim.throughput,
        r.floor.p50,
        r.floor.p99,
        r.floor.throughput,
        r.ratioP50,
        r.ratioThroughput,
        r.duplicates,
        r.claim.errors + r.floor.errors,
      ]);
    }
    console.log('bench:claim — through functions-framework HTTP and the embedded Firestore emulator');
    console.log(t.toString());
    console.log(
      `targets: p50 ≤ 2× floor: ${targets.p50WithinTwiceFloor ? 'met' : 'MISSED'}; throughput at 32 ≥ ½ floor: ${targets.throughputAt32AtLeastHalfFloor ? 'met' : 'MISSED'}; duplicates: ${allDuplicates}`,
    );
  }
  await claimServer.close();
  await floorServer.close();
  await db.terminate();
  await emulator.stop();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
