/**
 * The claim-time check against the local stack: real machines (bubblewrap sandboxes
 * answering SSH), the real TCP prober on the claim path, Firestore behind it. A machine
 * broken between health probes is never handed out, and is torn down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putPool } from '../../shared/services/pools.js';
import type { LocalStack } from '../../local/stack.js';
import { startTestStack } from '../support/local-stack.js';
import { claim, spec, waitFor, waitForCounts } from './support.js';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    bootDelayMs: 600,
    bootJitterMs: 100,
    operationDelayMs: 50,
    scheduleMs: 500,
    addressBase: '127.63.0.1',
  });
});
afterAll(async () => stack?.stop());

describe('claim-time check', () => {
  it.each([
    ['killed (connection refused)', 'killMachine'],
    ['hung (no SSH banner)', 'hangMachine'],
  ] as const)('a ready machine %s is skipped and torn down; the claim gets a healthy one', async (_n, breakIt) => {
    const pool = `check-${breakIt === 'killMachine' ? 'kill' : 'hang'}`;
    // Slow health probes (5 failures), so the claim meets the broken machine before reconcile does.
    const base = spec({
      targetReady: 2,
      healthCheck: { port: 2222, timeoutMs: 500, failuresBeforeUnhealthy: 5, intervalSeconds: 1 },
      claimCheck: { enabled: true, timeoutMs: 300, budgetMs: 1000 },
    });
    await putPool(stack.api, pool, base);
    await waitForCounts(stack, pool, { ready: 2 });
    // Paused: no new machine appears, so the two claims below meet exactly these two.
    await putPool(stack.api, pool, { ...base, paused: true });
    const [broken, healthy] = await stack.api.instances.listByPool(pool, ['ready']);
    await stack.compute.control[breakIt](broken!.name);

    const started = Date.now();
    const first = await claim(stack, pool);
    const firstMs = Date.now() - started;
    const second = await claim(stack, pool);
    const served = [first, second].filter((r) => r.status === 200).flatMap((r) => r.json.instances.map((i: { name: string }) => i.name));
    // Exactly one claim is served, with the healthy machine; the other finds none left (503).
    expect(served).toEqual([healthy!.name]);
    expect([first.status, second.status].sort()).toEqual([200, 503]);
    expect(firstMs).toBeLessThan(1000 + 2000); // the check's budget, plus slack for a loaded machine
    const marked = await waitFor('the broken machine to be torn down', async () => {
      const r = await stack.api.instances.get(broken!.name);
      return r && (r.state === 'deleting' || r.state === 'deleted') ? r : null;
    });
    expect(marked.reason).toBe('claim_check_failed');
    expect((await stack.api.instances.get(healthy!.name))!.state).toBe('claimed');
  });
});
