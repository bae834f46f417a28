import { expect } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import type { InstanceState } from '../../shared/domain/instance.js';
import { CLAIM_TOKEN } from '../support/local-stack.js';

export { ADMIN_TOKEN, CLAIM_TOKEN } from '../support/local-stack.js';

export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const counts = (stack: LocalStack, pool: string) => stack.api.instances.countByState(pool);

export async function waitForCounts(stack: LocalStack, pool: string, want: Partial<Record<InstanceState, number>>, timeoutMs = 20_000) {
  return waitFor(
    `${pool} to reach ${JSON.stringify(want)}`,
    async () => {
      const c = await counts(stack, pool);
      return Object.entries(want).every(([s, n]) => c[s as InstanceState] === n) ? c : null;
    },
    timeoutMs,
  );
}

export async function claim(stack: LocalStack, pool: string, body: Record<string, unknown> = {}) {
  const res = await fetch(`${stack.apiUrl}/claim`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CLAIM_TOKEN}` },
    body: JSON.stringify({ pool, ...body }),
  });
  return { status: res.status, json: (await res.json()) as any };
}

export async function release(stack: LocalStack, name: string) {
  const res = await fetch(`${stack.apiUrl}/instances/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${CLAIM_TOKEN}` } });
  return { status: res.status, json: (await res.json()) as any };
}

/** Machines of a pool in the local Compute Engine. */
export async function machinesOf(stack: LocalStack, pool: string) {
  return (await stack.compute.control.listInstances()).filter((m) => m.labels['warmer-pool'] === pool);
}

/**
 * The invariant after every scenario, once the pool has settled (nothing creating or
 * deleting): every machine in the local Compute Engine has a live record, and every live
 * record has a machine.
 */
/**
 * Waits until the pool is consistent in one look: no record creating or deleting, and every
 * listed machine (one still being deleted included) has a live record and the reverse. The
 * three are read together in each probe: checked one after another, a refill pass starting
 * between them (its record is `creating` and its machine listed before the record moves to
 * booting) failed the last check of a pool that was consistent. A leaked or lost machine
 * never agrees, so it still times out.
 */
export async function expectConsistent(stack: LocalStack, pool: string, timeoutMs = 20_000) {
  const look = async () => {
    const c = await counts(stack, pool);
    const machines = (await machinesOf(stack, pool)).map((m) => m.name).sort();
    const live = (await stack.api.instances.listByPool(pool, ['booting', 'ready', 'claimed', 'unhealthy', 'failed'])).map((r) => r.name).sort();
    return { settled: c.creating === 0 && c.deleting === 0, machines, live };
  };
  let last: Awaited<ReturnType<typeof look>> | undefined;
  try {
    last = await waitFor(
      `${pool} to settle with its machines and records agreeing`,
      async () => {
        last = await look();
        return last.settled && JSON.stringify(last.machines) === JSON.stringify(last.live) ? last : null;
      },
      timeoutMs,
    );
  } catch {
    // Timed out: the assertions below say what disagreed in the last look.
  }
  expect(last?.settled).toBe(true);
  expect(last?.machines).toEqual(last?.live);
}

export function spec(overrides: Record<string, unknown> = {}) {
  return {
    image: 'projects/debian-cloud/global/images/family/debian-12',
    machineType: 'e2-small',
    zones: ['us-central1-a', 'us-central1-b'],
    targetReady: 2,
    maxSize: 10,
    bootTimeoutSeconds: 30,
    healthCheck: { port: 2222, timeoutMs: 500, failuresBeforeUnhealthy: 2, intervalSeconds: 1 },
    ...overrides,
  };
}

/** A pool the Travis worker's requests match: its image, machine type and zone as the worker names them, public addresses, per-machine keys. */
export function travisPoolSpec(overrides: Record<string, unknown> = {}) {
  return spec({
    image: 'projects/travis-ci-prod/global/images/travis-ci-garnet-trusty',
    machineType: 'n1-standard-2',
    zones: ['us-central1-f'],
    publicIp: true,
    perMachineSshKeys: true,
    targetReady: 1,
    ...overrides,
  });
}

/** POST /request-instance exactly as the Travis worker sends it, with its Basic-auth URL credentials. */
export async function travisRequestInstance(stack: LocalStack) {
  const res = await fetch(`${stack.apiUrl}/request-instance`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`worker:${CLAIM_TOKEN}`).toString('base64')}` },
    body: JSON.stringify({
      site: 'org',
      zone: 'us-central1-f',
      image_name: 'https://www.googleapis.com/compute/v1/projects/travis-ci-prod/global/images/travis-ci-garnet-trusty',
      machine_type: 'https://www.googleapis.com/compute/v1/projects/travis-ci-prod/zones/us-central1-f/machineTypes/n1-standard-2',
      public_ip: true,
    }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}
