/** GceCompute through the real @google-cloud/compute client against the local emulator. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isWarmerError, type ErrorCode } from '../../../shared/errors.js';
import type { CreateMachineRequest } from '../../../shared/domain/machine.js';
import { GceCompute } from '../../../shared/adapters/gce-compute.js';
import { spec } from '../../support/builders.js';
import { harness, PROJECT, type Harness } from './helpers.js';

let h: Harness;
let seq = 0;

beforeAll(async () => {
  h = await harness({ pageSize: 3, bootDelayMs: 5000 });
});
afterAll(async () => {
  await h.stop();
});
afterEach(async () => {
  await h.emulator.control.reset();
});

function req(overrides: Partial<CreateMachineRequest> = {}): CreateMachineRequest {
  const n = ++seq;
  return {
    pool: 'ci',
    spec: spec(),
    name: `ci-${n}`,
    zone: 'us-central1-a',
    requestId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    ...overrides,
  };
}

async function failure(p: Promise<unknown>): Promise<ErrorCode> {
  try {
    await p;
  } catch (err) {
    if (isWarmerError(err)) return err.code;
    throw err;
  }
  throw new Error('expected a failure');
}

async function raw(path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${h.emulator.url}/compute/v1/projects/${PROJECT}/${path}`);
  return (await res.json()) as Record<string, unknown>;
}

describe('createMachine', () => {
  it('creates the machine the spec describes and returns it running', async () => {
    const s = spec({ publicIp: true, labels: { team: 'infra' }, networkTags: ['ssh'], startupScript: 'echo hi', maxRunDurationSeconds: 3600 });
    const r = req({ spec: s, extraSshKeys: ['travis:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA travis'] });
    const m = await h.compute.createMachine(r);
    expect(m).toMatchObject({
      name: r.name,
      zone: 'us-central1-a',
      status: 'RUNNING',
      labels: { team: 'infra', 'warmer-pool': 'ci', 'warmer-managed': 'true', warmth: 'warmed' },
    });
    expect(m.ip).toMatch(/^127\./);
    expect(m.publicIp).toBe(m.ip);
    expect(m.labelFingerprint).toBeTruthy();
    expect(m.createdAt).toBeGreaterThan(Date.now() - 60_000);
    const instance = await raw(`zones/us-central1-a/instances/${r.name}`);
    expect(instance).toMatchObject({
      machineType: expect.stringMatching(/\/zones\/us-central1-a\/machineTypes\/e2-small$/),
      tags: { items: ['ssh'] },
      scheduling: { maxRunDuration: { seconds: '3600' }, instanceTerminationAction: 'DELETE' },
      disks: [expect.objectContaining({ boot: true, autoDelete: true })],
    });
    const items = (instance.metadata as { items: Array<{ key: string; value: string }> }).items;
    expect(items.find((i) => i.key === 'ssh-keys')?.value).toContain('travis:ssh-ed25519');
    expect(items.find((i) => i.key === 'startup-script')?.value).toBe('echo hi');
  });

  it('makes one machine for the same requestId, sequentially and concurrently', async () => {
    const before = (await h.emulator.control.stats()).machinesCreated;
    const r = req();
    const a = await h.compute.createMachine(r);
    const b = await h.compute.createMachine(r);
    const r2 = req();
    const [c, d] = await Promise.all([h.compute.createMachine(r2), h.compute.createMachine(r2)]);
    expect(b).toEqual(a);
    expect(d.ip).toBe(c.ip);
    expect((await h.emulator.control.stats()).machinesCreated - before).toBe(2);
  });

  it('adopts a machine of the same pool that an earlier attempt made (409 alreadyExists)', async () => {
    const r = req();
    await h.emulator.control.createInstance({ name: r.name, zone: r.zone, labels: { 'warmer-pool': 'ci' } });
    const m = await h.compute.createMachine(r);
    expect(m.name).toBe(r.name);
    const other = req({ pool: 'other' });
    await h.emulator.control.createInstance({ name: other.name, zone: other.zone, labels: { 'warmer-pool': 'ci' } });
    expect(await failure(h.compute.createMachine(other))).toBe('already_exists');
  });

  it('reports a failed insert as operation_failed and leaves no machine', async () => {
    await h.emulator.control.failNextInserts(1);
    const r = req();
    expect(await failure(h.compute.createMachine(r))).toBe('operation_failed');
    expect(await h.compute.getMachine(r.zone, r.name)).toBeNull();
    await h.emulator.control.failInsertsOfImage('debian-12');
    expect(await failure(h.compute.createMachine(req()))).toBe('operation_failed');
    await h.emulator.control.failInsertsOfImage('debian-12', null);
    await expect(h.compute.createMachine(req())).resolves.toMatchObject({ status: 'RUNNING' });
  });

  it('reports a stocked-out zone as zone_stockout while other zones work', async () => {
    await h.emulator.control.setStockout('us-central1-b', true);
    expect(await failure(h.compute.createMachine(req({ zone: 'us-central1-b' })))).toBe('zone_stockout');
    await expect(h.compute.createMachine(req({ zone: 'us-central1-c' }))).resolves.toBeTruthy();
    await h.emulator.control.setStockout('us-central1-b', true, { withDetails: true });
    const err = await h.compute.createMachine(req({ zone: 'us-central1-b' })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'zone_stockout', retryable: true, details: { operationCodes: ['ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS'] } });
  });

  it('reads the CPU quota of the machine family (N2_CPUS for n2, CPUS for n1), and inserts are held to it', async () => {
    const zone = 'asia-south1-a';
    await h.emulator.control.setQuota('asia-south1', { CPUS: 100, N2_CPUS: 6, INSTANCES: 100 });
    const n2 = spec({ machineType: 'n2-standard-4' });
    expect((await h.compute.quotaHeadroom('asia-south1', 'n2-standard-4')).cpus).toBe(6);
    expect((await h.compute.quotaHeadroom('asia-south1', 'n1-standard-2')).cpus).toBe(100);
    // a family the region does not list falls back to CPUS
    expect((await h.compute.quotaHeadroom('asia-south1', 'c3-standard-4')).cpus).toBe(100);
    await h.compute.createMachine(req({ zone, spec: n2 }));
    expect((await h.compute.quotaHeadroom('asia-south1', 'n2-standard-4')).cpus).toBe(2);
    expect((await h.compute.quotaHeadroom('asia-south1', 'n1-standard-2')).cpus).toBe(100); // n2 does not use CPUS
    expect(await failure(h.compute.createMachine(req({ zone, spec: n2 })))).toBe('quota_exceeded');
    await h.compute.createMachine(req({ zone, spec: spec({ machineType: 'n1-standard-4' }) }));
    expect((await h.compute.quotaHeadroom('asia-south1', 'n1-standard-2')).cpus).toBe(96);
    expect((await h.compute.quotaHeadroom('asia-south1')).cpus).toBe(96); // no machine type: CPUS
  });

  it('reports quota exhaustion as quota_exceeded, and headroom follows live machines', async () => {
    const zone = 'asia-east1-a';
    await h.emulator.control.setQuota('asia-east1', { INSTANCES: 2, CPUS: 24, IN_USE_ADDRESSES: null });
    expect(await h.compute.quotaHeadroom('asia-east1')).toEqual({ region: 'asia-east1', cpus: 24, instances: 2, inUseAddresses: Infinity });
    const a = await h.compute.createMachine(req({ zone }));
    await h.compute.createMachine(req({ zone }));
    expect(await failure(h.compute.createMachine(req({ zone })))).toBe('quota_exceeded');
    expect(await h.compute.quotaHeadroom('asia-east1')).toEqual({ region: 'asia-east1', cpus: 20, instances: 0, inUseAddresses: Infinity });
    await h.compute.deleteMachine(zone, a.name);
    expect((await h.compute.quotaHeadroom('asia-east1')).instances).toBe(1);
    await h.emulator.control.setQuota('asia-east1', { INSTANCES: 100, CPUS: 3 });
    expect(await failure(h.compute.createMachine(req({ zone, spec: spec({ machineType: 'e2-standard-4' }) })))).toBe('quota_exceeded');
  });

  it('reports rate limiting (403 rateLimitExceeded and 429) as rate_limited', async () => {
    await h.emulator.control.rateLimitNext(1);
    expect(await failure(h.compute.createMachine(req()))).toBe('rate_limited');
    await h.emulator.control.rateLimitNext(1, { status: 429 });
    expect(await failure(h.compute.listMachines({ 'warmer-pool': 'ci' }))).toBe('rate_limited');
    await expect(h.compute.createMachine(req())).resolves.toBeTruthy();
  });

  it('waits for slow operations', async () => {
    await h.emulator.control.setOperationDelay(400);
    const t = Date.now();
    await h.compute.createMachine(req());
    expect(Date.now() - t).toBeGreaterThanOrEqual(350);
  });
});

describe('deleteMachine', () => {
  it('deletes, and a missing machine counts as done', async () => {
    const m = await h.compute.createMachine(req());
    await h.compute.deleteMachine(m.zone, m.name, 'del-1');
    expect(await h.compute.getMachine(m.zone, m.name)).toBeNull();
    await h.compute.deleteMachine(m.zone, m.name, 'del-1'); // the same requestId again
    await h.compute.deleteMachine(m.zone, m.name); // and a fresh one
    await h.compute.deleteMachine('us-central1-f', 'never-was');
  });

  it('reports a failed delete and keeps the machine', async () => {
    const m = await h.compute.createMachine(req());
    await h.emulator.control.failNextDeletes(1);
    expect(await failure(h.compute.deleteMachine(m.zone, m.name))).toBe('operation_failed');
    expect(await h.compute.getMachine(m.zone, m.name)).not.toBeNull();
  });

  it('gives up on a hung delete with transient, and the machine goes once released', async () => {
    const m = await h.compute.createMachine(req());
    await h.emulator.control.hangNextDeletes(1);
    const impatient = new GceCompute({ project: PROJECT, endpoint: h.emulator.endpoint, operationTimeoutMs: 300 });
    expect(await failure(impatient.deleteMachine(m.zone, m.name))).toBe('transient');
    expect((await h.compute.getMachine(m.zone, m.name))?.status).toBe('STOPPING');
    expect(await h.emulator.control.releaseHungOperations()).toBe(1);
    expect(await h.compute.getMachine(m.zone, m.name)).toBeNull();
    await impatient.close();
  });

  it('gives up on a hung insert with transient (the machine may exist); the same requestId adopts it once released', async () => {
    const r = req();
    await h.emulator.control.hangNextInserts(1);
    const impatient = new GceCompute({ project: PROJECT, endpoint: h.emulator.endpoint, operationTimeoutMs: 300 });
    expect(await failure(impatient.createMachine(r))).toBe('transient');
    expect((await h.compute.getMachine(r.zone, r.name))?.status).toBe('STAGING');
    expect(await h.emulator.control.releaseHungOperations()).toBe(1);
    expect((await h.compute.createMachine(r)).name).toBe(r.name);
    expect((await h.compute.getMachine(r.zone, r.name))?.status).toBe('RUNNING');
    await impatient.close();
  });

  it('refuses a requestId that belongs to another operation', async () => {
    const r = req();
    const m = await h.compute.createMachine(r);
    expect(await failure(h.compute.deleteMachine(m.zone, m.name, r.requestId))).toBe('operation_failed');
    expect(await h.compute.getMachine(m.zone, m.name)).not.toBeNull();
  });
});

describe('getMachine, listMachines, setLabels', () => {
  it('returns null for a machine that does not exist, and for one deleted behind our back', async () => {
    expect(await h.compute.getMachine('us-central1-a', 'nope')).toBeNull();
    const m = await h.compute.createMachine(req());
    expect(await h.emulator.control.deleteInstance(m.name, m.zone)).toBe(true);
    expect(await h.compute.getMachine(m.zone, m.name)).toBeNull();
  });

  it('lists every machine with the labels, across zones and pages', async () => {
    const zones = ['us-east1-b', 'us-east1-c', 'europe-west4-a'];
    const made: string[] = [];
    for (let i = 0; i < 8; i++) made.push((await h.compute.createMachine(req({ pool: 'lister', zone: zones[i % 3]! }))).name);
    await h.compute.createMachine(req({ pool: 'other-pool', zone: 'us-east1-b' }));
    await h.emulator.control.createInstance({ name: 'orphan-1', zone: 'us-west1-a', labels: { 'warmer-pool': 'lister', 'warmer-managed': 'true' } });
    await h.emulator.control.createInstance({ name: 'stranger', zone: 'us-west1-a', labels: { 'warmer-pool': 'lister' } });
    const listed = await h.compute.listMachines({ 'warmer-pool': 'lister', 'warmer-managed': 'true' });
    expect(listed.map((m) => m.name).sort()).toEqual([...made, 'orphan-1'].sort());
    expect(new Set(listed.map((m) => m.zone))).toEqual(new Set([...zones, 'us-west1-a']));
    const stats = await h.emulator.control.stats();
    expect(stats.requests['GET instances.aggregatedList']).toBeGreaterThanOrEqual(3); // pageSize 3 forces paging
  });

  it('merges labels, and two concurrent setLabels both land', async () => {
    const m = await h.compute.createMachine(req());
    await Promise.all([
      h.compute.setLabels(m.zone, m.name, { warmth: 'claimed' }),
      h.compute.setLabels(m.zone, m.name, { assignee: 'ada' }),
      h.compute.setLabels(m.zone, m.name, { ticket: 't-42' }),
    ]);
    const after = await h.compute.getMachine(m.zone, m.name);
    expect(after?.labels).toEqual({ 'warmer-pool': 'ci', 'warmer-managed': 'true', warmth: 'claimed', assignee: 'ada', ticket: 't-42' });
    expect(after?.labelFingerprint).not.toBe(m.labelFingerprint);
    expect(await failure(h.compute.setLabels('us-central1-a', 'nope', { a: 'b' }))).toBe('not_found');
  });

  it('rejects a stale fingerprint with 412 conditionNotMet', async () => {
    const m = await h.compute.createMachine(req());
    const res = await fetch(`${h.emulator.url}/compute/v1/projects/${PROJECT}/zones/${m.zone}/instances/${m.name}/setLabels`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ labels: { a: 'b' }, labelFingerprint: 'stale000000=' }),
    });
    expect(res.status).toBe(412);
    expect(await res.json()).toMatchObject({ error: { code: 412, errors: [{ reason: 'conditionNotMet' }] } });
  });

  it('reports an unreachable API as transient', async () => {
    const nowhere = new GceCompute({ project: PROJECT, endpoint: { host: '127.0.0.1', port: 1 } });
    expect(await failure(nowhere.listMachines({}))).toBe('transient');
    await nowhere.close();
  });
});

describe('updateSshKeys (instances.setMetadata)', () => {
  const ADMIN = 'admin:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdminAdminAdminAdminAdminAdminAdminAdminAd admin';
  const ADA = 'ada:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaA ada';
  const BOB = 'bob:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBobBobBobBobBobBobBobBobBobBobBobBobBobBobBo bob';
  const metadata = async (zone: string, name: string) =>
    (await raw(`zones/${zone}/instances/${name}`)).metadata as { fingerprint: string; items: Array<{ key: string; value: string }> };

  it('adds and removes entries, keeps the admin key and the startup script, and moves the fingerprint', async () => {
    const m = await h.compute.createMachine(req({ spec: spec({ sshAdminKeys: [ADMIN], startupScript: 'echo hi' }) }));
    const before = await metadata(m.zone, m.name);
    await h.compute.updateSshKeys(m.zone, m.name, { add: [ADA], remove: [] });
    const mid = await metadata(m.zone, m.name);
    expect(mid.items).toEqual([
      { key: 'ssh-keys', value: `${ADMIN}\n${ADA}` },
      { key: 'startup-script', value: 'echo hi' },
    ]);
    expect(mid.fingerprint).not.toBe(before.fingerprint);
    // Concurrent edits both land (a moved fingerprint is read again).
    await Promise.all([
      h.compute.updateSshKeys(m.zone, m.name, { add: [BOB], remove: [ADA] }),
      h.compute.updateSshKeys(m.zone, m.name, { add: [], remove: [] }),
    ]);
    expect((await metadata(m.zone, m.name)).items[0]).toEqual({ key: 'ssh-keys', value: `${ADMIN}\n${BOB}` });
    expect((await h.emulator.control.stats()).requests['POST instances.setMetadata']).toBeGreaterThanOrEqual(2);
    expect(await failure(h.compute.updateSshKeys('us-central1-a', 'nope', { add: [ADA], remove: [] }))).toBe('not_found');
  });

  it('rejects a stale metadata fingerprint with 412 conditionNotMet', async () => {
    const m = await h.compute.createMachine(req());
    const res = await fetch(`${h.emulator.url}/compute/v1/projects/${PROJECT}/zones/${m.zone}/instances/${m.name}/setMetadata`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items: [{ key: 'ssh-keys', value: ADA }], fingerprint: 'stale000000=' }),
    });
    expect(res.status).toBe(412);
    expect(await res.json()).toMatchObject({ error: { code: 412, errors: [{ reason: 'conditionNotMet' }] } });
    expect((await metadata(m.zone, m.name)).items).toEqual([]);
  });
});
