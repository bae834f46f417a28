/**
 * End-to-end scenarios against the local stack: failures in Compute Engine and in the
 * machines, and what warmer does about them. After each: every machine has a record and
 * every live record has a machine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../shared/logging.js';
import { putPool } from '../../shared/services/pools.js';
import { reconcilePool } from '../../shared/services/reconcile.js';
import type { LocalStack } from '../../local/stack.js';
import { startTestStack } from '../support/local-stack.js';
import { claim, counts, expectConsistent, machinesOf, release, spec, travisPoolSpec, travisRequestInstance, waitFor, waitForCounts } from './support.js';

const logger = memoryLogger();
let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    bootDelayMs: 800,
    bootJitterMs: 200,
    operationDelayMs: 100,
    scheduleMs: 500,
    orphanGraceMs: 2_000,
    deletingStuckMs: 5_000,
    minBackoffMs: 200,
    maxBackoffMs: 1_000,
    addressBase: '127.50.0.1',
    logger,
  });
});
afterAll(async () => stack?.stop());

const logged = (severity: string, message: string | RegExp) =>
  logger.entries.some((e) => e.severity === severity && (typeof message === 'string' ? e.message === message : message.test(String(e.message))));

describe('health', () => {
  it('a ready machine that hangs is replaced after the configured failed probes; a claimed one that hangs is not touched', async () => {
    await putPool(stack.api, 'hang', spec({ targetReady: 2 }));
    await waitForCounts(stack, 'hang', { ready: 2 });
    const claimed = (await claim(stack, 'hang')).json.instances[0];
    await waitForCounts(stack, 'hang', { ready: 2, claimed: 1 });
    const [ready] = await stack.api.instances.listByPool('hang', ['ready']);
    await stack.compute.control.hangMachine(ready!.name);
    await stack.compute.control.hangMachine(claimed.name);
    await waitFor('the hung ready machine to be torn down', async () => (await stack.api.instances.get(ready!.name))?.state === 'deleted');
    expect((await stack.api.instances.get(ready!.name))!.reason).toBe('unhealthy');
    await waitForCounts(stack, 'hang', { ready: 2 });
    // several passes later the hung claimed machine is still claimed, and still exists
    await new Promise((r) => setTimeout(r, 1500));
    expect((await stack.api.instances.get(claimed.name))!.state).toBe('claimed');
    expect((await stack.compute.control.getInstance(claimed.name))?.health).toBe('hung');
    expect(logged('WARNING', 'claimed machine failing probes')).toBe(true);
    await expectConsistent(stack, 'hang');
  });
});

describe('capacity', () => {
  it('a stock-out in one zone sends creations to another', async () => {
    await stack.compute.control.setStockout('us-west1-a', true);
    await putPool(stack.api, 'stockout', spec({ targetReady: 3, zones: ['us-west1-a', 'us-west1-b'] }));
    await waitForCounts(stack, 'stockout', { ready: 3 });
    const zones = (await machinesOf(stack, 'stockout')).map((m) => m.zone);
    expect(zones).toEqual(['us-west1-b', 'us-west1-b', 'us-west1-b']);
    expect(logged('WARNING', 'zone stocked out; marked cold')).toBe(true);
    await stack.compute.control.setStockout('us-west1-a', false);
    await expectConsistent(stack, 'stockout');
  });

  it('a quota limit caps the pool and logs an ERROR', async () => {
    await stack.compute.control.setQuota('asia-east1', { INSTANCES: 2 });
    await putPool(stack.api, 'quota', spec({ targetReady: 4, zones: ['asia-east1-a'] }));
    await waitForCounts(stack, 'quota', { ready: 2 });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await machinesOf(stack, 'quota')).length).toBe(2);
    expect(logged('ERROR', /quota/)).toBe(true);
    await expectConsistent(stack, 'quota');
  });

  it('a failing image backs the pool off instead of looping', async () => {
    const image = 'projects/bad/global/images/broken-image';
    await stack.compute.control.failInsertsOfImage(image, { code: 'RESOURCE_NOT_FOUND', message: 'image not found' });
    const before = (await stack.compute.control.stats()).requests['POST instances.insert'] ?? 0;
    await putPool(stack.api, 'badimage', spec({ targetReady: 3, image, zones: ['europe-north1-a'] }));
    // about 8 passes at 500 ms: without a breaker that is ~24 inserts
    await new Promise((r) => setTimeout(r, 4000));
    const inserts = ((await stack.compute.control.stats()).requests['POST instances.insert'] ?? 0) - before;
    expect(inserts).toBeGreaterThanOrEqual(3);
    expect(inserts).toBeLessThanOrEqual(5);
    expect(logged('ERROR', 'creates keep failing; pool backs off')).toBe(true);
    expect((await machinesOf(stack, 'badimage')).length).toBe(0);
    expect((await counts(stack, 'badimage')).creating).toBe(0);
  });

  it('two reconcile runs at once never exceed the target', async () => {
    await putPool(stack.api, 'overlap', spec({ targetReady: 4, zones: ['southamerica-east1-a'] }));
    await Promise.all([reconcilePool(stack.worker, 'overlap'), reconcilePool(stack.worker, 'overlap'), stack.tick(), stack.tick()]);
    await waitForCounts(stack, 'overlap', { ready: 4 });
    await new Promise((r) => setTimeout(r, 1000));
    expect((await machinesOf(stack, 'overlap')).length).toBe(4);
    await expectConsistent(stack, 'overlap');
  });
});

describe('drift', () => {
  it("an instance created behind warmer's back with its labels is deleted after the grace period", async () => {
    await putPool(stack.api, 'orphans', spec({ targetReady: 1, zones: ['australia-southeast1-a'] }));
    await waitForCounts(stack, 'orphans', { ready: 1 });
    await stack.compute.control.createInstance({
      name: 'orphans-intruder',
      zone: 'australia-southeast1-a',
      labels: { 'warmer-pool': 'orphans', 'warmer-managed': 'true', warmth: 'warmed' },
    });
    await new Promise((r) => setTimeout(r, 1000));
    expect(await stack.compute.control.getInstance('orphans-intruder')).not.toBeNull(); // within the grace period
    await waitFor('the orphan to be deleted', async () => (await stack.compute.control.getInstance('orphans-intruder')) === null, 10_000);
    expect(logged('WARNING', 'orphan deleted')).toBe(true);
    await expectConsistent(stack, 'orphans');
  });

  it('a machine deleted behind its back is noticed and replaced', async () => {
    await putPool(stack.api, 'vanish', spec({ targetReady: 2, zones: ['us-east1-b'] }));
    await waitForCounts(stack, 'vanish', { ready: 2 });
    const [victim] = await stack.api.instances.listByPool('vanish', ['ready']);
    expect(await stack.compute.control.deleteInstance(victim!.name)).toBe(true);
    await waitFor('the record to be closed', async () => (await stack.api.instances.get(victim!.name))?.state === 'deleted');
    await waitForCounts(stack, 'vanish', { ready: 2 });
    await expectConsistent(stack, 'vanish');
  });
});

describe('teardown', () => {
  it('the same teardown message delivered three times deletes once', async () => {
    await putPool(stack.api, 'dupes', spec({ targetReady: 1, zones: ['us-east4-a'] }));
    await waitForCounts(stack, 'dupes', { ready: 1 });
    const name = (await claim(stack, 'dupes')).json.instances[0].name as string;
    const deletesBefore = (await stack.compute.control.stats()).requests['DELETE instances.delete'] ?? 0;
    const deletedBefore = (await stack.compute.control.stats()).machinesDeleted;
    expect((await release(stack, name)).status).toBe(202);
    // two more copies of the same message, as a duplicate delivery would bring
    await stack.clients.publisher.publishTeardown({ instance: name, pool: 'dupes', reason: 'released' });
    await stack.clients.publisher.publishTeardown({ instance: name, pool: 'dupes', reason: 'released' });
    await waitFor('the release to complete', async () => (await stack.api.instances.get(name))?.state === 'deleted');
    // every copy has been handled (the scheduler keeps other subscriptions busy, so wait on this one)
    await waitFor('the teardown copies to be handled', async () => {
      const st = Object.entries(stack.pubsub.control.stats()).find(([sub]) => sub.endsWith('/warmer-teardown-push'))?.[1];
      return st && st.outstanding === 0 && st.inFlight === 0 && st.inBackoff === 0 && st.acked >= 3 ? true : null;
    });
    // Duplicates that arrive while the first delete runs may call delete too, but with the
    // record's one deleteRequestId: Compute Engine makes one deletion of it, and the record
    // is closed once.
    const stats = await stack.compute.control.stats();
    expect((stats.requests['DELETE instances.delete'] ?? 0) - deletesBefore).toBeLessThanOrEqual(3);
    expect(stats.machinesDeleted - deletedBefore).toBe(1);
    expect(logger.entries.filter((e) => e.message === 'instance deleted' && e.instance === name)).toHaveLength(1);
    expect(await stack.compute.control.getInstance(name)).toBeNull();
    await expectConsistent(stack, 'dupes');
  });

  it('a delete that fails twice then succeeds leaves nothing behind', async () => {
    await putPool(stack.api, 'flaky', spec({ targetReady: 1, zones: ['us-east5-a'] }));
    await waitForCounts(stack, 'flaky', { ready: 1 });
    const name = (await claim(stack, 'flaky')).json.instances[0].name as string;
    await stack.compute.control.failNextDeletes(2, { code: 'INTERNAL_ERROR', message: 'backend error' });
    await release(stack, name);
    await waitFor('the delete to succeed on the third try', async () => (await stack.api.instances.get(name))?.state === 'deleted', 15_000);
    expect(await stack.compute.control.getInstance(name)).toBeNull();
    await expectConsistent(stack, 'flaky');
  });
});

describe('crash recovery', () => {
  it('records stuck in creating after a crash are resolved: by the machine if it exists, by the same insert if not', async () => {
    const { newInstanceRecord } = await import('../../shared/domain/instance.js');
    await putPool(stack.api, 'crash', spec({ targetReady: 2, zones: ['us-south1-a'], bootTimeoutSeconds: 600 }));
    await waitForCounts(stack, 'crash', { ready: 2 });
    await stack.api.pools.putPool('crash', { ...(await stack.api.pools.getPool('crash'))!.spec, targetReady: 4 }, Date.now());
    // A crash after writing the record and issuing the insert: the machine exists.
    const old = Date.now() - 60_000;
    const made = newInstanceRecord({
      name: 'crash-made0000aa',
      pool: 'crash',
      zone: 'us-south1-a',
      requestId: 'a1b2c3d4-0000-4000-8000-000000000001',
      now: old,
    });
    await stack.api.instances.create(made);
    await stack.compute.control.createInstance({
      name: made.name,
      zone: made.zone,
      labels: { 'warmer-pool': 'crash', 'warmer-managed': 'true', warmth: 'warmed' },
    });
    // A crash after writing the record, before the insert: no machine.
    const lost = newInstanceRecord({
      name: 'crash-lost0000bb',
      pool: 'crash',
      zone: 'us-south1-a',
      requestId: 'a1b2c3d4-0000-4000-8000-000000000002',
      now: old,
    });
    await stack.api.instances.create(lost);
    await waitFor(
      'both records to become ready',
      async () => {
        const [a, b] = await Promise.all([stack.api.instances.get(made.name), stack.api.instances.get(lost.name)]);
        return a?.state === 'ready' && b?.state === 'ready';
      },
      20_000,
    );
    expect(await stack.compute.control.getInstance(lost.name)).not.toBeNull();
    await waitForCounts(stack, 'crash', { ready: 4 });
    expect((await machinesOf(stack, 'crash')).length).toBe(4);
    await expectConsistent(stack, 'crash');
  });
});

describe('the Travis worker', () => {
  it('gets a warm machine from /request-instance and logs in as travis with the per-machine key it was given', async () => {
    const { default: ssh2 } = await import('ssh2');
    await putPool(stack.api, 'travis', travisPoolSpec());
    await waitForCounts(stack, 'travis', { ready: 1 });
    // exactly what the worker sends, with its Basic-auth URL credentials
    const { status, body } = await travisRequestInstance(stack);
    expect(status).toBe(200);
    expect(body.zone).toBe('us-central1-f');
    expect(body.public_ip).toMatch(/^127\./);
    expect(body.ssh_private_key).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,/);
    const identity = await new Promise<string>((resolve, reject) => {
      const client = new ssh2.Client();
      client
        .on('ready', () =>
          client.exec('cat /etc/warmer/instance.json', (err, stream) => {
            if (err) return reject(err);
            let out = '';
            stream
              .on('data', (d: Buffer) => (out += d.toString()))
              .on('close', () => {
                client.end();
                resolve(out);
              });
          }),
        )
        .on('error', reject)
        .connect({
          host: body.public_ip,
          port: 2222,
          username: 'travis',
          privateKey: body.ssh_private_key,
          passphrase: stack.config.sshKeyPassphrase!,
          readyTimeout: 5000,
        });
    });
    expect(JSON.parse(identity)).toMatchObject({ name: body.name, ip: body.public_ip });
    // the same key does not open another pool machine
    await waitForCounts(stack, 'travis', { ready: 1, claimed: 1 });
    const [other] = await stack.api.instances.listByPool('travis', ['ready']);
    await expect(
      new Promise((resolve, reject) => {
        const client = new ssh2.Client();
        client
          .on('ready', () => {
            client.end();
            resolve('in');
          })
          .on('error', reject)
          .connect({
            host: other!.publicIp!,
            port: 2222,
            username: 'travis',
            privateKey: body.ssh_private_key,
            passphrase: stack.config.sshKeyPassphrase!,
            readyTimeout: 5000,
          });
      }),
    ).rejects.toThrow(/authentication/i);
    await expectConsistent(stack, 'travis');
  });
});
