/**
 * The runtime role is complete: the real adapters (built by functions/compose.ts, as the
 * deployed functions build them) run every port operation against the local emulators,
 * which record each API method they serve. Every recorded method must be in the table
 * of deploy/permissions.ts, every permission of the table must be in the role the deploy
 * creates, and the role must hold nothing the table does not justify.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startComputeEmulator, type ComputeEmulator } from '../../local/compute/emulator.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../local/firestore/emulator.js';
import { startPubSubEmulator, type PubSubEmulator } from '../../local/pubsub/emulator.js';
import { buildApiDeps, buildWorkerDeps, createClients, warmClients, type Clients, type WorkerDeps } from '../../functions/compose.js';
import { silentLogger } from '../../shared/logging.js';
import type { Config } from '../../shared/config.js';
import type { ApiDeps } from '../../shared/services/deps.js';
import { API_METHODS, methodEntry, runtimePermissions, type Api } from '../../deploy/permissions.js';
import { planDeployment } from '../../deploy/plan.js';
import { renderCommand } from '../../deploy/commands.js';
import { parseSettings } from '../../deploy/settings.js';
import { record, spec } from '../support/builders.js';

const called = new Map<Api, Set<string>>([
  ['firestore', new Set()],
  ['compute', new Set()],
  ['pubsub', new Set()],
]);
const note = (api: Api, method: string) => called.get(api)!.add(method);

/** A Firestore Commit, named by what it writes (each kind needs other permissions). */
function commitKinds(request: unknown): string[] {
  const writes = ((request as { writes?: unknown[] })?.writes ?? []) as Array<Record<string, any>>;
  if (writes.length === 0) return ['Commit:empty'];
  return writes.map((w) => {
    if (w.has_delete) return 'Commit:delete';
    const pre = w.has_current_document ? w.current_document : null;
    if (pre?.has_exists && pre.exists === false) return 'Commit:create';
    if ((pre?.has_exists && pre.exists === true) || pre?.has_update_time) return 'Commit:update';
    return 'Commit:set';
  });
}

/** A read that starts a transaction (new_transaction) begins it like BeginTransaction does. */
const methodOf = (method: string, request: unknown) =>
  (request as { has_new_transaction?: boolean } | undefined)?.has_new_transaction ? `${method}:newTransaction` : method;

let firestore: FirestoreEmulator;
let pubsub: PubSubEmulator;
let compute: ComputeEmulator;
let clients: Clients;
let config: Config;
let api: ApiDeps;
let worker: WorkerDeps;

beforeAll(async () => {
  firestore = await startFirestoreEmulator({
    onCall: (method, request) => {
      if (method === 'Commit') for (const k of commitKinds(request)) note('firestore', k);
      else note('firestore', methodOf(method, request));
    },
  });
  pubsub = await startPubSubEmulator({ onCall: (method) => note('pubsub', method) });
  compute = await startComputeEmulator({ bootDelayMs: 20, bootJitterMs: 0, operationDelayMs: 5, sshPort: 0, onApiCall: (kind) => note('compute', kind) });
  config = {
    project: 'warmer-perm',
    claimTokens: ['perm-claim-token-0123456789'],
    adminTokens: ['perm-admin-token-0123456789'],
    sshKeyPassphrase: 'perm-test-passphrase',
    topics: { teardown: 'warmer-teardown', refill: 'warmer-refill', deadLetter: 'warmer-dead-letter' },
    maxBodyBytes: 64 * 1024,
    emptyRetryAfterSeconds: 2,
    logLevel: 'INFO',
    dryRun: false,
    firestoreEmulatorHost: firestore.hostPort,
    pubsubEmulatorHost: pubsub.hostPort,
    computeEmulatorHost: `${compute.endpoint.host}:${compute.endpoint.port}`,
    probeConcurrency: 4,
    createConcurrency: 2,
    orphanGraceSeconds: 60,
    leaseSeconds: 60,
    poolConcurrency: 16,
    probeRoundBudgetSeconds: 0,
  } as Config;
  clients = createClients(config, silentLogger);
  // The topics exist in a deployment (the deploy creates them); set up outside the recording.
  for (const t of Object.values(config.topics)) await clients.pubsub.createTopic(t).catch(() => {});
  api = buildApiDeps(clients, silentLogger);
  worker = await buildWorkerDeps(config, clients, silentLogger);
  for (const set of called.values()) set.clear();
}, 30_000);

afterAll(async () => {
  await clients?.publisher.flush().catch(() => {});
  await clients?.pubsub.close().catch(() => {});
  await clients?.firestore.terminate().catch(() => {});
  await Promise.all([firestore?.stop(), pubsub?.stop(), compute?.stop()]);
});

describe('the runtime role covers every API method the adapters call', () => {
  it('runs every port operation of the real adapters and records the methods served', async () => {
    const now = 1_700_000_000_000;
    const pool = `perm-${process.pid}`;
    // The claim path's warm-up of a new instance (functions/deps.ts warmUp).
    await warmClients(clients, config);
    // Pools.
    await api.pools.putPool(pool, spec({ targetReady: 1 }), now);
    await api.pools.putPool(pool, spec({ targetReady: 2 }), now + 1);
    expect(await api.pools.getPool(pool)).not.toBeNull();
    expect((await api.pools.listPools()).map((p) => p.name)).toContain(pool);
    // Instances: create, conflict, CAS transitions (hit and miss), update, claim, queries, counts.
    const a = record({ pool, state: 'booting', at: now, name: `${pool}-a` });
    const b = record({ pool, state: 'ready', at: now, name: `${pool}-b` });
    await api.instances.create(a);
    await api.instances.create(b);
    await expect(api.instances.create(a)).rejects.toMatchObject({ code: 'conflict' });
    expect(await api.instances.transition(a.name, ['ready'], 'claimed', now + 2)).toBeNull();
    expect(await api.instances.transition(a.name, ['booting'], 'ready', now + 3, { ip: '127.0.9.9' })).not.toBeNull();
    expect(await api.instances.update(a.name, ['ready'], { ip: '127.0.9.8' })).not.toBeNull();
    expect(await api.instances.update('no-such', ['ready'], { ip: '127.0.9.8' })).toBeNull();
    expect(await api.instances.get(a.name)).not.toBeNull();
    expect(await api.instances.listByPool(pool, ['ready'])).toHaveLength(2);
    expect((await api.instances.countByState(pool)).ready).toBe(2);
    const claimed = await api.instances.claim({
      pool,
      principal: 'perm',
      requestId: randomUUID(),
      assignee: 'perm',
      labels: {},
      count: 1,
      lifetimeSeconds: 60,
      now: now + 4,
    });
    expect(claimed.kind).toBe('claimed');
    const empty = await api.instances.claim({
      pool,
      principal: 'perm',
      requestId: randomUUID(),
      assignee: 'perm',
      labels: {},
      count: 5,
      lifetimeSeconds: null,
      now: now + 5,
      maxWaitMs: 100,
    });
    expect(empty.kind).toBe('empty');
    expect((await api.instances.claimsSince(now)).length).toBeGreaterThan(0);
    // Reconcile's own state: leases, runtime.
    expect(await worker.runtime.acquireLease(pool, 'h1', now, 60_000)).toBe(true);
    expect(await worker.runtime.acquireLease(pool, 'h2', now + 1, 60_000)).toBe(false);
    await worker.runtime.releaseLease(pool, 'h1');
    const rt = await worker.runtime.getRuntime(pool);
    await worker.runtime.saveRuntime(pool, { ...rt, coldZones: { 'us-central1-a': now + 60_000 } });
    // History.
    await api.history?.record({ type: 'claim-hit', pool, at: now, count: 1 } as never);
    await api.history?.since(pool, now - 1);
    await api.history?.since(null, now - 1);
    // Compute: create, get, list, labels, quota, delete.
    const name = `${pool}-vm`;
    const m = await worker.compute.createMachine({ pool, spec: spec({ labels: { team: 'ci' } }), name, zone: 'us-central1-a', requestId: randomUUID() });
    expect(m.name).toBe(name);
    expect(await worker.compute.getMachine('us-central1-a', name)).not.toBeNull();
    expect(await worker.compute.getMachine('us-central1-a', `${name}-missing`)).toBeNull();
    expect((await worker.compute.listMachines({ 'warmer-pool': pool })).map((x) => x.name)).toContain(name);
    await worker.compute.setLabels('us-central1-a', name, { warmth: 'claimed' });
    await worker.compute.quotaHeadroom('us-central1');
    await worker.compute.deleteMachine('us-central1-a', name, randomUUID());
    // Pub/Sub.
    await api.publisher.publishTeardown({ instance: name, zone: 'us-central1-a', pool, reason: 'released' } as never);
    await api.publisher.publishRefill({ pool, reason: 'claim' } as never);
    await clients.publisher.flush();

    expect(called.get('firestore')!.size).toBeGreaterThan(4);
    expect(called.get('compute')).toContain('instances.insert');
    expect(called.get('pubsub')).toContain('Publish');
  }, 60_000);

  it('every recorded method is in the permission table', () => {
    const missing: string[] = [];
    for (const [apiName, methods] of called) for (const m of methods) if (!methodEntry(apiName, m)) missing.push(`${apiName} ${m}`);
    expect(missing, 'methods the adapters call that deploy/permissions.ts does not list').toEqual([]);
    // The transactions the whole service relies on (the bug this table exists for).
    expect([...called.get('firestore')!].some((m) => m === 'BeginTransaction' || m.endsWith(':newTransaction'))).toBe(true);
    for (const m of API_METHODS)
      if (m.method === 'BeginTransaction' || m.method.endsWith(':newTransaction')) expect(m.permissions).toContain('datastore.databases.get');
  });

  it.each([true, false])('the role the deploy creates (publicIps %s) holds every permission of the table and nothing else', (publicIps) => {
    const s = parseSettings({ project: 'warmer-prod-1', region: 'europe-west1', publicIps });
    const roleLine = planDeployment(s)
      .map(renderCommand)
      .find((l) => l.includes('iam roles create warmer_runtime'))!;
    const role = /--permissions=([^ ']+)/.exec(roleLine)![1]!.split(',').sort();
    const table = new Set(API_METHODS.flatMap((m) => [...m.permissions, ...(publicIps ? (m.publicIpsOnly ?? []) : [])]));
    expect(role).toEqual([...table].sort());
    expect(role).toEqual(runtimePermissions(publicIps));
    expect(role).toContain('datastore.databases.get');
    expect(role.includes('compute.subnetworks.useExternalIp')).toBe(publicIps);
  });
});
