import { describe, expect, it } from 'vitest';
import { MemoryInstanceStore } from '../../shared/adapters/memory-store.js';
import { memoryLogger } from '../../shared/logging.js';
import { handleTeardown } from '../../shared/services/teardown.js';
import { FakeCompute } from '../support/fake-compute.js';
import { FakePublisher } from '../support/fake-publisher.js';
import { record, spec } from '../support/builders.js';

async function setup(state: 'deleting' | 'claimed' | 'deleted' = 'deleting') {
  const instances = new MemoryInstanceStore();
  const compute = new FakeCompute();
  const publisher = new FakePublisher();
  const r = record({ pool: 'ci', state });
  await instances.create(r);
  await compute.createMachine({ pool: 'ci', spec: spec(), name: r.name, zone: r.zone, requestId: r.requestId });
  const deps = { instances, compute, publisher, clock: { now: () => 1_700_000_100_000 }, logger: memoryLogger() };
  return { deps, r, instances, compute, publisher };
}

describe('handleTeardown', () => {
  it('deletes the machine, closes the record and asks for a refill', async () => {
    const { deps, r, instances, compute, publisher } = await setup();
    expect(await handleTeardown(deps, { instance: r.name, pool: 'ci', reason: 'released' })).toBe('deleted');
    expect(compute.machines.has(r.name)).toBe(false);
    expect((await instances.get(r.name))!.state).toBe('deleted');
    expect(publisher.refills).toEqual([{ pool: 'ci', reason: 'teardown' }]);
  });

  it('the same message three times deletes once', async () => {
    const { deps, r, compute } = await setup();
    const outs = [];
    for (let i = 0; i < 3; i++) outs.push(await handleTeardown(deps, { instance: r.name, pool: 'ci', reason: 'released' }));
    expect(outs).toEqual(['deleted', 'already_deleted', 'already_deleted']);
    expect(compute.deletes).toBe(1);
  });

  it('a retryable delete failure throws (Pub/Sub redelivers) and leaves the record deleting; the retry finishes', async () => {
    const { deps, r, instances, compute } = await setup();
    compute.failDeletes = ['transient', 'rate_limited'];
    await expect(handleTeardown(deps, { instance: r.name, pool: 'ci', reason: 'x' })).rejects.toMatchObject({ code: 'transient' });
    await expect(handleTeardown(deps, { instance: r.name, pool: 'ci', reason: 'x' })).rejects.toMatchObject({ code: 'rate_limited' });
    expect((await instances.get(r.name))!.state).toBe('deleting');
    expect(await handleTeardown(deps, { instance: r.name, pool: 'ci', reason: 'x' })).toBe('deleted');
    expect(compute.machines.size).toBe(0);
  });

  it('a machine already gone counts as done', async () => {
    const { deps, r, instances, compute } = await setup();
    compute.machines.clear();
    compute.failDeletes = ['not_found'];
    expect(await handleTeardown(deps, { instance: r.name, pool: 'ci', reason: 'x' })).toBe('deleted');
    expect((await instances.get(r.name))!.state).toBe('deleted');
  });

  it('never deletes a machine whose record is not deleting (a stale message)', async () => {
    const { deps, r, compute } = await setup('claimed');
    expect(await handleTeardown(deps, { instance: r.name, pool: 'ci', reason: 'x' })).toBe('not_deleting');
    expect(compute.machines.has(r.name)).toBe(true);
  });

  it('an unknown instance is acknowledged', async () => {
    const { deps } = await setup();
    expect(await handleTeardown(deps, { instance: 'ghost', pool: 'ci', reason: 'x' })).toBe('no_record');
  });
});

describe('handleTeardown: failed delete operations', () => {
  it('a delete operation that finished with an error is retried with a new requestId', async () => {
    const { deps, r, instances, compute } = await setup();
    await instances.update(r.name, ['deleting'], { deleteRequestId: 'del-1' });
    compute.failDeletes = ['operation_failed'];
    await expect(handleTeardown(deps, { instance: r.name, pool: 'ci', reason: 'x' })).rejects.toMatchObject({ code: 'operation_failed' });
    const after = await instances.get(r.name);
    expect(after!.state).toBe('deleting');
    expect(after!.deleteRequestId).not.toBe('del-1');
    expect(after!.deleteRequestId).toBeTruthy();
    expect(await handleTeardown(deps, { instance: r.name, pool: 'ci', reason: 'x' })).toBe('deleted');
  });
});
