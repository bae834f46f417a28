/**
 * bench:refill — drains a pool of 20 ready machines and times its return to 20 ready,
 * next to the local machines' boot delay measured in the same run (each refilled
 * machine's time from creation to answering SSH, as the local Compute Engine records it).
 *
 * Target: back to full within 1.5 × the boot delay + 2 s.   `--json` prints one object.
 * The scheduler is set to a minute (as Cloud Scheduler's): the refill is driven by the
 * claims' refill messages alone, and the reconcile function watches booting machines at
 * the deployed cadence (DEFAULT_BOOT_WATCH, as functions/index.ts runs it), not a faster
 * one. Once the last round is measured nothing new is started (its machines are not
 * given back) and the stack is stopped; the time that takes is reported and bounded.
 */
import { Command } from 'commander';
import Table from 'cli-table3';
import { silentLogger } from '../shared/logging.js';
import { putPool } from '../shared/services/pools.js';
import { startLocalStack } from '../local/stack.js';
import { DEFAULT_BOOT_WATCH } from '../shared/services/refill.js';

/** The longest the stack may take to stop after the last measurement. */
const STOP_BOUND_MS = 15_000;

const program = new Command()
  .name('bench:refill')
  .description('time for a drained pool to return to full, against the boot delay')
  .option('--json', 'print one JSON object')
  .option('--size <n>', 'pool target', (v) => Number(v), 20)
  .option('--rounds <n>', 'drain/refill rounds', (v) => Number(v), 3)
  .option('--boot-delay <ms>', 'local machines boot delay', (v) => Number(v), 3000)
  .option('--boot-jitter <ms>', 'boot delay jitter', (v) => Number(v), 1000)
  .parse();
const opts = program.opts<{ json?: boolean; size: number; rounds: number; bootDelay: number; bootJitter: number }>();
const TOKEN = 'bench-refill-claim-token-0123';
const round2 = (n: number) => Math.round(n * 100) / 100;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function waitReady(count: () => Promise<number>, want: number, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if ((await count()) >= want) return performance.now();
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`pool did not return to ${want} ready within ${timeoutMs} ms`);
}

async function main() {
  const stack = await startLocalStack({
    claimTokens: [TOKEN],
    adminTokens: ['bench-refill-admin-token-0123'],
    bootDelayMs: opts.bootDelay,
    bootJitterMs: opts.bootJitter,
    scheduleMs: 60_000,
    bootWatch: DEFAULT_BOOT_WATCH,
    addressBase: '127.90.0.1',
    logger: silentLogger,
  });
  const pool = 'bench-refill';
  let stopped = false;
  let stopMs: number;
  const ready = async () => (await stack.api.instances.countByState(pool)).ready;
  try {
    await putPool(stack.api, pool, {
      image: 'projects/debian-cloud/global/images/family/debian-12',
      machineType: 'e2-small',
      zones: ['us-central1-a', 'us-central1-b', 'us-central1-c'],
      targetReady: opts.size,
      maxSize: opts.size * (opts.rounds + 2),
      createThrottle: opts.size,
      healthCheck: { port: 2222, timeoutMs: 1000 },
    });
    await waitReady(ready, opts.size, 120_000);

    const rounds: Array<{ refillMs: number; bootMeanMs: number; bootMaxMs: number; targetMs: number; met: boolean }> = [];
    for (let r = 0; r < opts.rounds; r++) {
      const before = new Set((await stack.compute.control.listInstances()).map((m) => m.name));
      const claims = await Promise.all(
        Array.from({ length: opts.size }, () =>
          fetch(`${stack.apiUrl}/claim`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
            body: JSON.stringify({ pool }),
          }).then((res) => res.status),
        ),
      );
      if (claims.some((s) => s !== 200)) throw new Error(`drain failed: ${claims.join(',')}`);
      const t0 = performance.now();
      const t1 = await waitReady(ready, opts.size, 120_000);
      const refillMs = t1 - t0;
      const fresh = (await stack.compute.control.listInstances()).filter((m) => !before.has(m.name) && m.bootedAt !== null);
      const boots = fresh.map((m) => m.bootedAt! - m.createdAt);
      const bootMeanMs = boots.reduce((a, b) => a + b, 0) / boots.length;
      const targetMs = 1.5 * bootMeanMs + 2000;
      rounds.push({
        refillMs: round2(refillMs),
        bootMeanMs: round2(bootMeanMs),
        bootMaxMs: round2(Math.max(...boots)),
        targetMs: round2(targetMs),
        met: refillMs <= targetMs,
      });
      if (r === opts.rounds - 1) break;
      // give the claimed machines back before the next round
      const claimed = await stack.api.instances.listByPool(pool, ['claimed']);
      await Promise.all(claimed.map((c) => fetch(`${stack.apiUrl}/instances/${c.name}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })));
    }
    const stopping = performance.now();
    await stack.stop();
    stopMs = performance.now() - stopping;
    stopped = true;
    const summary = {
      refillMedianMs: round2(median(rounds.map((x) => x.refillMs))),
      bootMeanMedianMs: round2(median(rounds.map((x) => x.bootMeanMs))),
      ratioToBoot: round2(median(rounds.map((x) => x.refillMs / x.bootMeanMs))),
      allRoundsMet: rounds.every((x) => x.met),
      stopAfterLastMeasurementMs: round2(stopMs),
      stopWithinBound: stopMs <= STOP_BOUND_MS,
    };
    const report = {
      bench: 'refill',
      size: opts.size,
      configuredBootDelayMs: opts.bootDelay,
      bootJitterMs: opts.bootJitter,
      rounds,
      summary,
      target: 'refillMs ≤ 1.5 × bootMeanMs + 2000',
    };
    if (opts.json) {
      console.log(JSON.stringify(report));
    } else {
      const t = new Table({ head: ['round', 'refill to full ms', 'boot mean ms', 'boot max ms', 'target ms', 'met'] });
      rounds.forEach((x, i) => t.push([i + 1, x.refillMs, x.bootMeanMs, x.bootMaxMs, x.targetMs, x.met ? 'yes' : 'NO']));
      console.log(`bench:refill — drain ${opts.size}, time back to ${opts.size} ready (local stack, scheduler at 60 s)`);
      console.log(t.toString());
      console.log(
        `boot watch every ${DEFAULT_BOOT_WATCH.intervalMs} ms (deployed); stopped ${summary.stopAfterLastMeasurementMs} ms after the last measurement`,
      );
      console.log(
        `median refill ${summary.refillMedianMs} ms = ${summary.ratioToBoot} × the mean boot delay; target 1.5 × boot + 2 s: ${summary.allRoundsMet ? 'met in every round' : 'MISSED'}`,
      );
    }
  } finally {
    if (!stopped) await stack.stop();
  }
  if (stopMs > STOP_BOUND_MS) throw new Error(`the stack took ${Math.round(stopMs)} ms to stop after the last measurement (bound ${STOP_BOUND_MS} ms)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
