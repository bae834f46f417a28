/**
 * Demand sizing on the local stack: a demand pool with no history holds nothing; after a
 * burst of claims (all missed) reconcile folds them from the recorded misses, its target
 * rises to the burst's peak, the pool fills to it, and GET /pools/{name} (and so
 * `warmer pools get` and the status page) shows the computed target and why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putPool } from '../../shared/services/pools.js';
import type { LocalStack } from '../../local/stack.js';
import { startTestStack } from '../support/local-stack.js';
import { poolDetail } from '../../cli/output.js';
import { ADMIN_TOKEN, claim, expectConsistent, spec, waitFor, waitForCounts } from './support.js';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    bootDelayMs: 1000,
    bootJitterMs: 200,
    operationDelayMs: 50,
    scheduleMs: 2000,
    addressBase: '127.64.0.1',
  });
});
afterAll(async () => stack?.stop());

async function getPool(name: string) {
  const res = await fetch(`${stack.apiUrl}/pools/${name}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as any;
}

describe('demand sizing', () => {
  it("a demand pool's target rises after a burst of claims, the pool fills to it, and the API shows the target and why", async () => {
    await putPool(stack.api, 'demand', spec({ targetReady: 0, maxSize: 12, sizing: { mode: 'demand', warmHitTarget: 0.9 } }));
    const first = await waitFor('a first sized pass', async () => (await getPool('demand')).sizing, 20_000, 200);
    expect(first).toMatchObject({ target: 0, mode: 'demand', why: { basis: 'profile', boundedBy: 'model' } });
    expect((await stack.api.instances.countByState('demand')).booting).toBe(0);

    // A burst: 6 jobs at once, nothing ready, every claim misses.
    const missed = await Promise.all(Array.from({ length: 6 }, () => claim(stack, 'demand')));
    expect(missed.every((c) => c.status !== 200)).toBe(true);

    // Folded once settled (FOLD_SETTLE_MS) by a later pass: the target rises to the burst's peak.
    const sized = await waitFor(
      'the target to rise',
      async () => ((await getPool('demand')).sizing?.target >= 6 ? (await getPool('demand')).sizing : null),
      40_000,
      500,
    );
    expect(sized).toMatchObject({ target: 6, mode: 'demand', why: { basis: 'recent', unbounded: 6, maxReady: 12 } });
    expect(Date.parse(sized.computedAt)).toBeGreaterThan(Date.parse(first.computedAt));
    expect(sized.leadMs).toBeGreaterThan(0);
    expect(poolDetail(await getPool('demand'))).toContain('6 ready (demand sizing');

    // The pool fills to the computed target, and the next burst starts warm.
    await waitForCounts(stack, 'demand', { ready: 6 }, 30_000);
    const warm = await Promise.all(Array.from({ length: 6 }, () => claim(stack, 'demand')));
    expect(warm.map((c) => c.status)).toEqual([200, 200, 200, 200, 200, 200]);
    // The status page's data shows the same target.
    const res = await fetch(`${stack.apiUrl}/ui/data`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    const data = (await res.json()) as any;
    expect(data.pools.find((p: any) => p.name === 'demand').sizing).toMatchObject({ mode: 'demand' });
    expect(data.pools.find((p: any) => p.name === 'demand').sizing.target).toBeGreaterThanOrEqual(6);
    await expectConsistent(stack, 'demand');
  });
});
