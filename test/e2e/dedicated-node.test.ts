/**
 * A dedicated-node pool on the local stack: `targetReady: fill` on a sole-tenant node
 * group of 2 nodes × (16 vCPUs, 64 GB) with e2-standard-4 machines (4 vCPUs, 16 GB) fills
 * to exactly what fits (8; fewer when another machine already uses a node), never asks
 * for an insert that cannot be placed, and refills a released slot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putPool } from '../../shared/services/pools.js';
import type { LocalStack } from '../../local/stack.js';
import { REFILL_DRIVEN, startTestStack } from '../support/local-stack.js';
import { claim, counts, expectConsistent, machinesOf, release, spec, waitFor, waitForCounts } from './support.js';

const BOOT_MS = REFILL_DRIVEN.bootDelayMs;
const ZONE = 'us-central1-a';
let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    ...REFILL_DRIVEN,
    addressBase: '127.90.0.1',
    nodeGroups: [
      { name: 'dedicated', zone: ZONE, nodes: 2, cpus: 16, memoryMb: 64 * 1024 },
      { name: 'shared', zone: ZONE, nodes: 2, cpus: 16, memoryMb: 64 * 1024 },
    ],
  });
});
afterAll(async () => stack?.stop());

const fillSpec = (nodeGroup: string) =>
  spec({ machineType: 'e2-standard-4', zones: [ZONE], targetReady: 'fill', maxSize: 20, placement: { nodeGroup }, createThrottle: 20 });

/** Waits until nothing is creating or booting for a while, then returns the counts. */
async function settled(pool: string) {
  let last = '';
  let stableSince = Date.now();
  return waitFor(
    `${pool} to settle`,
    async () => {
      const c = await counts(stack, pool);
      const key = JSON.stringify(c);
      if (key !== last) {
        last = key;
        stableSince = Date.now();
        return null;
      }
      return c.creating === 0 && c.booting === 0 && Date.now() - stableSince > 3 * BOOT_MS ? c : null;
    },
    60_000,
    200,
  );
}

describe('dedicated-node pools', () => {
  it('fill: 2 nodes × (16 vCPUs, 64 GB) with e2-standard-4 hold exactly 8, with no insert refused', async () => {
    const rejectedBefore = (await stack.compute.control.stats()).placementRejections;
    await putPool(stack.api, 'dedicated', fillSpec('dedicated'));
    await waitForCounts(stack, 'dedicated', { ready: 8 }, 40_000);
    const c = await settled('dedicated');
    expect(c.ready).toBe(8);
    const machines = await machinesOf(stack, 'dedicated');
    expect(machines).toHaveLength(8);
    // First fit: 4 on each node.
    const perNode = machines.reduce<Record<string, number>>((acc, m) => ({ ...acc, [m.node ?? 'none']: (acc[m.node ?? 'none'] ?? 0) + 1 }), {});
    expect(perNode).toEqual({ 'dedicated-node-01': 4, 'dedicated-node-02': 4 });
    expect((await stack.compute.control.stats()).placementRejections - rejectedBefore).toBe(0);

    // Releasing one frees its slot; the pool fills it again within about a boot time.
    const got = await claim(stack, 'dedicated');
    expect(got.status).toBe(200);
    expect((await release(stack, got.json.instances[0].name)).status).toBe(202);
    const started = Date.now();
    await waitFor(
      'the released slot to be refilled',
      async () => {
        const now = await counts(stack, 'dedicated');
        return now.ready === 8 && now.deleting === 0 && now.claimed === 0 ? now : null;
      },
      30_000,
    );
    // Within a few boot times (the teardown, then one boot), not the 2-minute schedule.
    expect(Date.now() - started).toBeLessThan(20 * BOOT_MS);
    expect((await settled('dedicated')).ready).toBe(8);
    expect((await stack.compute.control.stats()).placementRejections - rejectedBefore).toBe(0);
    await expectConsistent(stack, 'dedicated');
  }, 120_000);

  it('fill: with another machine already on a node it fills to what still fits (7 for a 4-vCPU neighbour)', async () => {
    await stack.compute.control.createInstance({ name: 'neighbour', zone: ZONE, machineType: 'e2-standard-4', nodeGroup: 'shared' });
    const rejectedBefore = (await stack.compute.control.stats()).placementRejections;
    await putPool(stack.api, 'shared', fillSpec('shared'));
    await waitForCounts(stack, 'shared', { ready: 7 }, 40_000);
    const c = await settled('shared');
    expect(c.ready).toBe(7);
    expect(await machinesOf(stack, 'shared')).toHaveLength(7);
    expect((await stack.compute.control.stats()).placementRejections - rejectedBefore).toBe(0);
    await expectConsistent(stack, 'shared');
  }, 120_000);
});
