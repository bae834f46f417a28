/**
 * A pool with target 5 fills; claiming all 5 refills it well before the next scheduled
 * pass — driven by the claims' refill messages alone: the scheduler here is set to two
 * minutes and never fires during the test. How fast, against the boot delay, is measured
 * by `npm run bench:refill`, not asserted here (a timed test on a shared CI machine would
 * be flaky); the bound below only proves the refill did not wait for the schedule.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putPool } from '../../shared/services/pools.js';
import type { LocalStack } from '../../local/stack.js';
import { REFILL_DRIVEN, startTestStack } from '../support/local-stack.js';
import { claim, expectConsistent, spec, waitForCounts } from './support.js';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    ...REFILL_DRIVEN,
    addressBase: '127.40.0.1',
  });
});
afterAll(async () => stack?.stop());

describe('refill', () => {
  it('fills to target 5, and refills after 5 claims from the refill messages, not the schedule', async () => {
    await putPool(stack.api, 'refill', spec({ targetReady: 5, maxSize: 12 }));
    await waitForCounts(stack, 'refill', { ready: 5 }, 15_000);
    const claims = await Promise.all(Array.from({ length: 5 }, () => claim(stack, 'refill')));
    expect(claims.map((c) => c.status)).toEqual([200, 200, 200, 200, 200]);
    const started = Date.now();
    await waitForCounts(stack, 'refill', { ready: 5, claimed: 5 }, 60_000);
    expect(Date.now() - started).toBeLessThan(60_000);
    await expectConsistent(stack, 'refill');
  });
});
