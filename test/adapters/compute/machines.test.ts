/** Local machines: boot, SSH with the keys from metadata, and what the prober sees when they break. */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { remoteComputeControl } from '../../../local/compute/emulator.js';
import { TcpProber } from '../../../shared/adapters/tcp-prober.js';
import type { ProbeTarget } from '../../../shared/domain/probe.js';
import { spec } from '../../support/builders.js';
import { harness, sshExec, testKey, type Harness } from './helpers.js';

const SSH_PORT = 2222;
const admin = testKey('admin');
const stranger = testKey('admin');
const prober = new TcpProber();
let h: Harness;
let seq = 0;

beforeAll(async () => {
  h = await harness({ sshPort: SSH_PORT, bootDelayMs: 150, bootJitterMs: 50 });
});
afterAll(async () => {
  await h.stop();
});

const target = (address: string, extra: Partial<ProbeTarget> = {}): ProbeTarget => ({
  address,
  port: SSH_PORT,
  expectSshBanner: true,
  timeoutMs: 1000,
  ...extra,
});

async function bootedMachine(extraSshKeys?: string[]) {
  const name = `m-${++seq}`;
  const m = await h.compute.createMachine({
    pool: 'ci',
    spec: spec({ sshAdminKeys: [admin.entry] }),
    name,
    zone: 'us-central1-a',
    requestId: `req-m-${seq}`,
    extraSshKeys,
  });
  await h.emulator.control.waitForBoot(name, 5000);
  return m;
}

describe('local machines', () => {
  it('boot after a delay and then answer with an SSH banner', async () => {
    const m = await h.compute.createMachine({
      pool: 'ci',
      spec: spec({ sshAdminKeys: [admin.entry] }),
      name: 'm-boot',
      zone: 'us-central1-a',
      requestId: 'req-boot',
    });
    expect(await prober.probe(target(m.ip!))).toMatchObject({ ok: false, reason: 'refused' });
    const info = await h.emulator.control.waitForBoot('m-boot', 5000);
    expect(info).toMatchObject({ health: 'up', ip: m.ip, status: 'RUNNING' });
    const probe = await prober.probe(target(m.ip!));
    expect(probe).toMatchObject({ ok: true, banner: expect.stringMatching(/^SSH-2\.0-/) });
  });

  it('let the admin key log in and read the machine identity; other keys are refused', async () => {
    const m = await bootedMachine();
    const out = await sshExec(m.ip!, SSH_PORT, 'admin', admin.privateKey, 'cat /etc/warmer/instance.json');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ name: m.name, zone: 'us-central1-a', ip: m.ip });
    await expect(sshExec(m.ip!, SSH_PORT, 'admin', stranger.privateKey)).rejects.toThrow(/authentication/i);
    await expect(sshExec(m.ip!, SSH_PORT, 'root', admin.privateKey)).rejects.toThrow(/authentication/i);
  });

  it('accept a per-machine key given as extraSshKeys, for its user', async () => {
    const travis = testKey('travis');
    const m = await bootedMachine([travis.entry]);
    const out = await sshExec(m.ip!, SSH_PORT, 'travis', travis.privateKey);
    expect(JSON.parse(out.stdout).name).toBe(m.name);
  });

  it('get their own loopback addresses', async () => {
    const a = await bootedMachine();
    const b = await bootedMachine();
    expect(a.ip).not.toBe(b.ip);
    expect(JSON.parse((await sshExec(b.ip!, SSH_PORT, 'admin', admin.privateKey)).stdout).name).toBe(b.name);
  });

  it('a hung machine times out, a dead one is refused, a revived one answers again', async () => {
    const m = await bootedMachine();
    await h.emulator.control.hangMachine(m.name);
    expect(await prober.probe(target(m.ip!, { timeoutMs: 300 }))).toMatchObject({ ok: false, reason: 'timed_out' });
    expect(await prober.probe(target(m.ip!, { expectSshBanner: false }))).toMatchObject({ ok: true }); // TCP still connects
    await h.emulator.control.killMachine(m.name);
    expect(await prober.probe(target(m.ip!))).toMatchObject({ ok: false, reason: 'refused' });
    await h.emulator.control.reviveMachine(m.name);
    expect(await prober.probe(target(m.ip!))).toMatchObject({ ok: true });
  });

  it('a machine hung before it boots never answers', async () => {
    const name = `m-${++seq}`;
    const m = await h.compute.createMachine({ pool: 'ci', spec: spec(), name, zone: 'us-central1-a', requestId: `req-${name}` });
    await h.emulator.control.hangMachine(name);
    expect((await h.emulator.control.waitForBoot(name, 5000)).health).toBe('hung');
    expect(await prober.probe(target(m.ip!, { timeoutMs: 300 }))).toMatchObject({ ok: false, reason: 'timed_out' });
  });

  it('a deleted machine stops answering and frees its address', async () => {
    const m = await bootedMachine();
    await h.compute.deleteMachine(m.zone, m.name);
    expect(await prober.probe(target(m.ip!))).toMatchObject({ ok: false, reason: 'refused' });
  });

  it("are driven over HTTP too (/_control), e.g. an orphan made behind warmer's back", async () => {
    const remote = remoteComputeControl(h.emulator.url);
    const made = await remote.createInstance({
      name: 'orphan-x',
      zone: 'us-central1-f',
      labels: { 'warmer-pool': 'ci', 'warmer-managed': 'true' },
      sshKeys: [admin.entry],
    });
    expect(made).toMatchObject({ name: 'orphan-x', health: 'booting' });
    const booted = await remote.waitForBoot('orphan-x', 5000);
    expect((await h.compute.listMachines({ 'warmer-pool': 'ci' })).map((m) => m.name)).toContain('orphan-x');
    expect(JSON.parse((await sshExec(booted.ip!, SSH_PORT, 'admin', admin.privateKey)).stdout).name).toBe('orphan-x');
    await remote.killMachine('orphan-x');
    expect(await prober.probe(target(booted.ip!))).toMatchObject({ reason: 'refused' });
    expect(await remote.deleteInstance('orphan-x')).toBe(true);
    expect(await remote.getInstance('orphan-x')).toBeNull();
    await expect(remote.hangMachine('no-such-machine')).rejects.toThrow(/no instance/);
  });
});

describe('TcpProber', () => {
  let server: net.Server;
  let address: string;
  let port: number;
  beforeAll(async () => {
    server = net.createServer((s) => {
      s.on('error', () => {});
      s.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    ({ address, port } = server.address() as net.AddressInfo);
    return () => new Promise<void>((r) => server.close(() => r()));
  });

  it('reports a wrong banner', async () => {
    expect(await prober.probe({ address, port, expectSshBanner: true, timeoutMs: 1000 })).toMatchObject({ ok: false, reason: 'wrong_banner' });
    expect(await prober.probe({ address, port, expectSshBanner: false, timeoutMs: 1000 })).toMatchObject({ ok: true, banner: null });
  });

  it('never throws, even for nonsense', async () => {
    expect(await prober.probe({ address: 'not an address', port: 22, expectSshBanner: true, timeoutMs: 500 })).toMatchObject({ ok: false });
    expect(await prober.probe({ address: '127.0.0.1', port: 70000, expectSshBanner: true, timeoutMs: 500 })).toMatchObject({ ok: false, reason: 'error' });
  });

  it('probes many with bounded concurrency, results in order', async () => {
    const m = await bootedMachine();
    const targets = Array.from({ length: 30 }, (_, i) =>
      i % 3 === 0 ? target(m.ip!) : i % 3 === 1 ? { address, port, expectSshBanner: true, timeoutMs: 1000 } : target('127.0.0.1', { port: 1 }),
    );
    const results = await prober.probeMany(targets, 4);
    expect(results.map((r) => (r.ok ? 'ok' : r.reason))).toEqual(targets.map((_, i) => ['ok', 'wrong_banner', 'refused'][i % 3]));
  });
});
