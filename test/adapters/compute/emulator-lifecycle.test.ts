/** Addresses never collide between emulators, and stop() leaves nothing listening. */
import net from 'node:net';
import { expect, it } from 'vitest';
import { startComputeEmulator } from '../../../local/compute/index.js';
import { TcpProber } from '../../../shared/adapters/tcp-prober.js';

const prober = new TcpProber();
const BASE = '127.23.0.1';
const SSH_PORT = 2222;

it('skips addresses that another emulator or another process holds', async () => {
  // Something else already listens on the first address's SSH port.
  const squatter = net.createServer();
  await new Promise<void>((r) => squatter.listen(SSH_PORT, BASE, r));
  const opts = { addressBase: BASE, sshPort: SSH_PORT, bootDelayMs: 10, bootJitterMs: 0, operationDelayMs: 5 };
  const [a, b] = await Promise.all([startComputeEmulator(opts), startComputeEmulator(opts)]);
  try {
    const made = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).control.createInstance({ name: `vm-${i}`, zone: 'us-central1-a' })));
    const ips = made.map((m) => m.ip);
    expect(new Set(ips).size).toBe(6);
    expect(ips).not.toContain(BASE);
    for (const m of made) await (made.indexOf(m) % 2 ? a : b).control.waitForBoot(m.name, 5000);
    const results = await prober.probeMany(made.map((m) => ({ address: m.ip!, port: SSH_PORT, expectSshBanner: true, timeoutMs: 1000 })));
    expect(results.every((r) => r.ok)).toBe(true);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    await new Promise<void>((r) => squatter.close(() => r()));
  }
});

it('stop() closes the API and every machine', async () => {
  const emulator = await startComputeEmulator({ addressBase: '127.23.1.1', bootDelayMs: 10, bootJitterMs: 0 });
  const m = await emulator.control.createInstance({ name: 'vm', zone: 'europe-west1-b' });
  await emulator.control.waitForBoot('vm', 5000);
  expect(await prober.probe({ address: m.ip!, port: m.sshPort, expectSshBanner: true, timeoutMs: 1000 })).toMatchObject({ ok: true });
  await emulator.stop();
  expect(await prober.probe({ address: m.ip!, port: m.sshPort, expectSshBanner: true, timeoutMs: 1000 })).toMatchObject({ reason: 'refused' });
  expect(await prober.probe({ address: emulator.host, port: emulator.port, expectSshBanner: false, timeoutMs: 1000 })).toMatchObject({ reason: 'refused' });
});
