/**
 * Measures the emulator with many local machines: time until every machine answers an SSH
 * banner probe, and memory per machine (emulator side only, after a GC).
 *
 *   node --expose-gc --import tsx local/compute/measure.ts [count]
 */
import { TcpProber } from '../../shared/adapters/tcp-prober.js';
import { startComputeEmulator } from './emulator.js';

const count = Number(process.argv[2] ?? 200);
const gc = (globalThis as { gc?: () => void }).gc;
const settle = async () => {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
};

const emulator = await startComputeEmulator({ bootDelayMs: 200, bootJitterMs: 300, operationDelayMs: 20 });
const prober = new TcpProber();
await settle();
const before = process.memoryUsage();
const started = performance.now();
const machines = [];
for (let i = 0; i < count; i++) {
  machines.push(await emulator.control.createInstance({ name: `measure-${i}`, zone: 'us-central1-a', labels: { 'warmer-pool': 'measure' } }));
}
const createdMs = performance.now() - started;
let pending = machines;
while (pending.length) {
  const results = await prober.probeMany(
    pending.map((m) => ({ address: m.ip!, port: m.sshPort, expectSshBanner: true, timeoutMs: 1000 })),
    100,
  );
  pending = pending.filter((_, i) => !results[i]!.ok);
  if (pending.length) await new Promise((r) => setTimeout(r, 20));
}
const bootedMs = performance.now() - started;
await settle();
const after = process.memoryUsage();
const kib = (a: number, b: number) => Number(((b - a) / count / 1024).toFixed(1));
console.log(
  JSON.stringify({
    machines: count,
    createMs: Math.round(createdMs),
    allAnswerSshMs: Math.round(bootedMs),
    gc: Boolean(gc),
    rssPerMachineKiB: kib(before.rss, after.rss),
    heapUsedPerMachineKiB: kib(before.heapUsed, after.heapUsed),
    externalPerMachineKiB: kib(before.external, after.external),
  }),
);
await emulator.stop();
