/**
 * The breaker end to end on the local stack, driven by refill messages only (no
 * scheduler): a broken image trips it within one pass; a PUT that fixes the image resets
 * it and fills the pool within about one boot time.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { memoryLogger } from '../../shared/logging.js';
import { putPool } from '../../shared/services/pools.js';
import type { LocalStack } from '../../local/stack.js';
import { startTestStack } from '../support/local-stack.js';
import { counts, expectConsistent, machinesOf, spec, waitFor, waitForCounts } from './support.js';

const BOOT_MS = 800;
const logger = memoryLogger();
let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    bootDelayMs: BOOT_MS,
    bootJitterMs: 200,
    operationDelayMs: 100,
    scheduleMs: 0,
    addressBase: '127.51.0.1',
    logger,
  });
});
afterAll(async () => stack?.stop());

const runtime = async (pool: string) => stack.worker.runtime.getRuntime(pool);
const inserts = async () => (await stack.compute.control.stats()).requests['POST instances.insert'] ?? 0;

it('a broken image opens the breaker in one pass; fixing the image (PUT) fills the pool in about one boot time', { timeout: 60_000 }, async () => {
  const broken = 'projects/bad/global/images/missing-image';
  await stack.compute.control.failInsertsOfImage(broken, { code: 'RESOURCE_NOT_FOUND', message: `The resource '${broken}' was not found` });
  const before = await inserts();
  await putPool(stack.api, 'brk', spec({ targetReady: 4, image: broken, zones: ['europe-west4-a'] }));
  // one pass (the PUT's refill request) makes 4 inserts, all fail: open
  await waitFor('the breaker to open', async () => (await runtime('brk')).breaker.openUntil !== null, 15_000);
  const afterTrip = await inserts();
  expect(afterTrip - before).toBe(4);
  expect((await runtime('brk')).breaker.opens).toBe(1);
  expect((await machinesOf(stack, 'brk')).length).toBe(0);
  expect((await counts(stack, 'brk')).creating).toBe(0);

  // another PUT of the same image does not reset it (nothing changed)
  await putPool(stack.api, 'brk', spec({ targetReady: 4, image: broken, zones: ['europe-west4-a'], maxSize: 11 }));
  await new Promise((r) => setTimeout(r, 1500));
  expect(await inserts()).toBe(afterTrip);

  // fixing the image resets the breaker; the refill's pass creates and its boot watch makes them ready
  const t0 = Date.now();
  await putPool(stack.api, 'brk', spec({ targetReady: 4, zones: ['europe-west4-a'] }));
  await waitForCounts(stack, 'brk', { ready: 4 }, 20_000);
  const fillMs = Date.now() - t0;
  expect(fillMs).toBeLessThan(BOOT_MS + 200 + 4_000); // about one boot time, plus a pass and a probe
  expect((await runtime('brk')).breaker.openUntil).toBeNull();
  expect(logger.entries.some((e) => e.message === 'pool breaker reset: image or machine type changed')).toBe(true);
  expect(logger.entries.filter((e) => e.message === 'machine ready' && e.pool === 'brk' && typeof e.durationMs === 'number').length).toBeGreaterThanOrEqual(4);
  await expectConsistent(stack, 'brk');
  console.log(`breaker e2e: tripped with ${afterTrip - before} inserts; fixed image filled 4 in ${fillMs} ms (boot ${BOOT_MS} ms)`);
});
