/** 200 local machines in one process: they all boot and pass an SSH-banner probe; numbers are printed. */
import pLimit from 'p-limit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TcpProber } from '../../../shared/adapters/tcp-prober.js';
import type { Machine } from '../../../shared/domain/machine.js';
import { spec } from '../../support/builders.js';
import { harness, sshExec, testKey, type Harness } from './helpers.js';

const COUNT = 200;
const admin = testKey('admin');
let h: Harness;

beforeAll(async () => {
  h = await harness({ bootDelayMs: 200, bootJitterMs: 300, operationDelayMs: 20 });
  // Warm up the client and the allocator so the measurement is about machines.
  const m = await h.compute.createMachine({ pool: 'warmup', spec: spec(), name: 'warmup-0', zone: 'us-central1-a', requestId: 'warmup-0' });
  await h.compute.deleteMachine(m.zone, m.name);
});
afterAll(async () => {
  await h?.stop();
});

it(`boots ${COUNT} machines that all pass a probe`, { timeout: 60_000 }, async () => {
  const prober = new TcpProber();
  const s = spec({ sshAdminKeys: [admin.entry] });
  const memBefore = process.memoryUsage();
  const started = performance.now();

  const limit = pLimit(50);
  const zones = ['us-central1-a', 'us-central1-b', 'us-central1-c', 'us-central1-f'];
  const machines: Machine[] = await Promise.all(
    Array.from({ length: COUNT }, (_, i) =>
      limit(() => h.compute.createMachine({ pool: 'many', spec: s, name: `many-${i}`, zone: zones[i % zones.length]!, requestId: `req-many-${i}` })),
    ),
  );
  const createdMs = performance.now() - started;
  expect(new Set(machines.map((m) => m.ip)).size).toBe(COUNT);

  // Probe until every machine answers with an SSH banner.
  let pending = machines;
  while (pending.length) {
    const results = await prober.probeMany(
      pending.map((m) => ({ address: m.ip!, port: 2222, expectSshBanner: true, timeoutMs: 1000 })),
      100,
    );
    pending = pending.filter((_, i) => !results[i]!.ok);
    if (pending.length) await new Promise((r) => setTimeout(r, 50));
    expect(performance.now() - started).toBeLessThan(45_000);
  }
  const bootedMs = performance.now() - started;
  const memAfter = process.memoryUsage();

  // A sample logs in for real.
  for (const m of machines.slice(0, 5)) {
    expect(JSON.parse((await sshExec(m.ip!, 2222, 'admin', admin.privateKey)).stdout).name).toBe(m.name);
  }
  expect((await h.compute.listMachines({ 'warmer-pool': 'many' })).length).toBe(COUNT);

  const perMachine = (a: number, b: number) => ((b - a) / COUNT / 1024).toFixed(1);
  console.log(
    JSON.stringify({
      machines: COUNT,
      createAllMs: Math.round(createdMs),
      allPassProbeMs: Math.round(bootedMs),
      rssPerMachineKiB: perMachine(memBefore.rss, memAfter.rss),
      heapPerMachineKiB: perMachine(memBefore.heapUsed, memAfter.heapUsed),
      externalPerMachineKiB: perMachine(memBefore.external, memAfter.external),
    }),
  );

  const deleteStarted = performance.now();
  await Promise.all(machines.map((m) => limit(() => h.compute.deleteMachine(m.zone, m.name))));
  console.log(JSON.stringify({ deleteAllMs: Math.round(performance.now() - deleteStarted) }));
  const after = await prober.probeMany(machines.slice(0, 20).map((m) => ({ address: m.ip!, port: 2222, expectSshBanner: true, timeoutMs: 500 })));
  expect(after.every((r) => !r.ok && r.reason === 'refused')).toBe(true);
});
