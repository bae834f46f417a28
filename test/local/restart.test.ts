/**
 * The local stack's state survives a restart (state dir): a pool changed through the API,
 * a claimed machine (same name and address, booted again, answering) and a request id
 * (replayed, not a new claim) are all there after stop + start, and the machine's disk
 * (a file written in it) too; `fresh` starts empty.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../local/stack.js';
import { silentLogger } from '../../shared/logging.js';
import { ADMIN_TOKEN, CLAIM_TOKEN, claim, counts, spec as baseSpec, waitFor, waitForCounts } from '../e2e/support.js';
import { sshExec, testKey } from '../adapters/compute/helpers.js';

const admin = testKey('admin');
const spec = (overrides: Record<string, unknown>) => baseSpec({ sshAdminKeys: [admin.entry], ...overrides });

const dir = mkdtempSync(join(tmpdir(), 'warmer-state-'));
const stacks: LocalStack[] = [];
afterAll(async () => {
  for (const s of stacks) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

const options = (extra: Partial<LocalStackOptions> = {}): LocalStackOptions => ({
  claimTokens: [CLAIM_TOKEN],
  adminTokens: [ADMIN_TOKEN],
  pools: { restart: spec({ targetReady: 1, maxSize: 4, zones: ['us-central1-a'] }) },
  bootDelayMs: 200,
  bootJitterMs: 50,
  operationDelayMs: 50,
  scheduleMs: 300,
  addressBase: '127.110.0.1',
  stateDir: dir,
  stateIntervalMs: 200,
  logger: silentLogger,
  ...extra,
});

async function start(extra: Partial<LocalStackOptions> = {}): Promise<LocalStack> {
  const stack = await startLocalStack(options(extra));
  stacks.push(stack);
  return stack;
}

async function stop(stack: LocalStack): Promise<void> {
  await stack.stop();
  stacks.splice(stacks.indexOf(stack), 1);
}

const sshBanner = (ip: string, port: number) =>
  new Promise<string>((resolve, reject) => {
    const socket = net.connect(port, ip);
    socket.setTimeout(2000, () => socket.destroy(new Error('no banner')));
    socket.once('data', (d) => {
      resolve(d.toString());
      socket.destroy();
    });
    socket.once('error', reject);
  });

async function putPool(stack: LocalStack, name: string, body: unknown) {
  const res = await fetch(`${stack.apiUrl}/pools/${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify(body),
  });
  expect(res.status).toBeLessThan(300);
}

describe('local stack state across a restart', () => {
  it('keeps a pool changed through the API, a claimed machine and a request id; fresh starts empty', { timeout: 60_000 }, async () => {
    const first = await start();
    expect(first.state).toMatchObject({ dir, restoredDocuments: 0, restoredMachines: 0, seededPools: ['restart'], keptPools: [] });
    await waitForCounts(first, 'restart', { ready: 1 });
    // Changed through the API: the YAML's targetReady 1 must not come back.
    await putPool(first, 'restart', spec({ targetReady: 2, maxSize: 4, zones: ['us-central1-a'] }));
    const claimed = await claim(first, 'restart', { requestId: 'restart-req-1' });
    expect(claimed.status).toBe(200);
    const machine = claimed.json.instances[0];
    const port = first.compute.sshPort;
    expect(await sshExec(machine.ip, port, 'admin', admin.privateKey, 'echo kept > ~/notes.txt; echo ok')).toEqual({ stdout: 'ok\n', code: 0 });
    await waitFor('two ready again', async () => ((await counts(first, 'restart')).ready === 2 ? true : null));
    await stop(first);

    const second = await start();
    expect(second.state?.keptPools).toEqual(['restart']);
    expect(second.state?.seededPools).toEqual([]);
    expect(second.state?.restoredMachines).toBe(3);
    expect((await second.api.pools.getPool('restart'))?.spec.targetReady).toBe(2);
    // The claimed machine: same name, same address, still claimed, booted again.
    const record = await second.api.instances.get(machine.name);
    expect(record?.state).toBe('claimed');
    const info = await second.compute.control.waitForBoot(machine.name, 10_000);
    expect(info.ip).toBe(machine.ip);
    expect(await sshBanner(machine.ip, info.sshPort)).toMatch(/^SSH-2\.0-/);
    // Its disk came back with it, as a VM's disk survives a reboot of its host.
    expect(await sshExec(machine.ip, port, 'admin', admin.privateKey, 'cat ~/notes.txt')).toEqual({ stdout: 'kept\n', code: 0 });
    // The request id replays the same claim, no new machine is taken.
    const again = await claim(second, 'restart', { requestId: 'restart-req-1' });
    expect(again.status).toBe(200);
    expect(again.json.replayed).toBe(true);
    expect(again.json.instances.map((i: { name: string }) => i.name)).toEqual([machine.name]);
    expect((await counts(second, 'restart')).claimed).toBe(1);
    // Records and machines agree after reconcile: the two ready ones are still there.
    await second.tick();
    await waitForCounts(second, 'restart', { claimed: 1, ready: 2 });
    await stop(second);

    const fresh = await start({ fresh: true });
    expect(fresh.state).toMatchObject({ restoredDocuments: 0, restoredMachines: 0, seededPools: ['restart'] });
    expect((await fresh.api.pools.getPool('restart'))?.spec.targetReady).toBe(1);
    expect(await fresh.api.instances.get(machine.name)).toBeNull();
    // ...and no disk of the old machines is left behind.
    expect(readdirSync(join(dir, 'machines')).some((d) => d.includes(machine.name))).toBe(false);
    await stop(fresh);
  });
});
