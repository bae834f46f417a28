/**
 * Chaos (issue 10): claims and releases run for ~35 s while every fault is injected —
 * hung and failing inserts and deletes, stock-outs, a quota error, lost and duplicated
 * Pub/Sub deliveries. The machine count is sampled every second and must never exceed
 * maxSize; afterwards records and machines agree, no record is stuck, the pool is back
 * to target. Hung operations are released every few seconds (slow, not lost, as in the
 * cloud); the adapter and the pass bound how long anything waits on them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putPool } from '../../shared/services/pools.js';
import type { LocalStack } from '../../local/stack.js';
import { startTestStack } from '../support/local-stack.js';
import { claim, expectConsistent, machinesOf, release, spec, waitForCounts } from './support.js';

const POOL = 'chaos';
const MAX = 6;
const TARGET = 3;
let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    bootDelayMs: 800,
    bootJitterMs: 300,
    operationDelayMs: 100,
    scheduleMs: 3000,
    orphanGraceMs: 5000,
    deletingStuckMs: 5000,
    creatingStuckMs: 5000,
    bootWatch: { budgetMs: 10_000, intervalMs: 250 },
    addressBase: '127.41.0.1',
  });
});
afterAll(async () => stack?.stop());

describe('chaos', () => {
  it('never above maxSize under every fault; settles consistent and back to target', { timeout: 90_000 }, async () => {
    await putPool(stack.api, POOL, spec({ targetReady: TARGET, maxSize: MAX, zones: ['us-central1-a', 'us-central1-b', 'us-central1-c'], createThrottle: 6 }));
    await waitForCounts(stack, POOL, { ready: TARGET }, 20_000);

    const samples: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push((await machinesOf(stack, POOL)).length);
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();

    const c = stack.compute.control;
    const faults: Array<() => Promise<void>> = [
      () => c.hangNextDeletes(2),
      () => c.hangNextInserts(2),
      () => c.failNextInserts(2),
      () => c.failNextDeletes(1),
      () => c.setStockout('us-central1-a', true),
      () => c.setStockout('us-central1-a', false),
      () => c.setQuota('us-central1', { INSTANCES: 4 }),
      () => c.setQuota('us-central1', { INSTANCES: 100 }),
      async () => stack.deliveryFaults.loseNext('reconcile', 2),
      async () => stack.deliveryFaults.duplicateNext('reconcile', 3),
      async () => stack.deliveryFaults.loseNext('teardown', 1),
      async () => stack.deliveryFaults.duplicateNext('teardown', 2),
      () => c.releaseHungOperations().then(() => undefined),
    ];
    const claimed: string[] = [];
    const until = Date.now() + 35_000;
    let round = 0;
    while (Date.now() < until) {
      await faults[round % faults.length]!();
      if (round % 4 === 3) await c.releaseHungOperations();
      const r = await claim(stack, POOL);
      if (r.status === 200) claimed.push(...r.json.instances.map((i: { name: string }) => i.name));
      if (claimed.length > 2 || (round % 3 === 0 && claimed.length > 0)) {
        const name = claimed.shift()!;
        expect((await release(stack, name)).status).toBe(202);
      }
      round++;
      await new Promise((r) => setTimeout(r, 700));
    }

    // Calm: no faults; give back every claim; hung operations finish.
    await c.reset();
    await c.releaseHungOperations();
    for (const name of claimed) await release(stack, name);
    await waitForCounts(stack, POOL, { ready: TARGET, claimed: 0, creating: 0, deleting: 0 }, 40_000);
    sampling = false;
    await sampler;
    await expectConsistent(stack, POOL, 20_000);

    expect(samples.length).toBeGreaterThan(30);
    expect(Math.max(...samples)).toBeLessThanOrEqual(MAX);
    const live = await stack.api.instances.listByPool(POOL, ['creating', 'booting', 'ready', 'claimed', 'deleting', 'unhealthy']);
    expect(live.filter((r) => r.state !== 'ready')).toEqual([]);
    expect((await machinesOf(stack, POOL)).length).toBe(TARGET);
  });
});
