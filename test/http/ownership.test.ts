/**
 * Claims have owners: two claim principals and an admin, through the real
 * functions-framework stack over the in-memory store.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryInstanceStore, MemoryPoolStore } from '../../shared/adapters/memory-store.js';
import { memoryLogger } from '../../shared/logging.js';
import type { ApiDeps } from '../../shared/services/deps.js';
import { createApiHandler } from '../../functions/http/api.js';
import { FakePublisher } from '../support/fake-publisher.js';
import { record, spec } from '../support/builders.js';
import { call, serveFunction } from '../support/http.js';

const A = 'alpha-claim-token-0123456789';
const B = 'bravo-claim-token-0123456789';
const ADMIN = 'ops-admin-token-0123456789';

let deps: ApiDeps & { instances: MemoryInstanceStore; pools: MemoryPoolStore; publisher: FakePublisher };
let server: { url: string; close(): Promise<void> };
const now = 1_700_000_000_000;

beforeAll(async () => {
  server = await serveFunction(
    createApiHandler(
      'all',
      () => ({ claimTokens: [`team-a=${A}`, `team-b=${B}`], adminTokens: [`ops=${ADMIN}`], project: 'p', maxBodyBytes: 4096, retryAfterSeconds: 3 }),
      async () => deps,
      () => memoryLogger(),
    ),
  );
});
afterAll(async () => server.close());

beforeEach(async () => {
  deps = {
    instances: new MemoryInstanceStore(),
    pools: new MemoryPoolStore(),
    publisher: new FakePublisher(),
    clock: { now: () => now },
    logger: memoryLogger(),
  };
  await deps.pools.putPool('ci', spec({ targetReady: 4 }), now);
  for (let i = 0; i < 4; i++) await deps.instances.create(record({ pool: 'ci', state: 'ready', at: now - 10_000 + i }));
});

const api = (method: string, path: string, opts: Parameters<typeof call>[3] = {}) => call(server.url, method, path, opts);
const claimAs = (token: string, body: Record<string, unknown> = {}) => api('POST', '/claim', { token, body: { pool: 'ci', ...body } });

describe('ownership', () => {
  it("B cannot read or release A's machine: 404 with the body of a missing machine; A's machine stays claimed", async () => {
    const mine = (await claimAs(A, { requestId: 'job-1', assignee: 'ada' })).json.instances[0];
    expect(mine.principal).toBe('team-a');
    const missing = await api('GET', '/instances/ci-nope', { token: B });
    for (const [method, name] of [
      ['GET', mine.name],
      ['DELETE', mine.name],
    ] as const) {
      const res = await api(method, `/instances/${name}`, { token: B });
      expect(res.status).toBe(404);
      expect(res.json).toEqual({ error: { code: 'not_found', message: `instance "${name}" does not exist` } });
      expect(JSON.stringify(res.json)).not.toContain('ada');
    }
    expect(missing.json.error.code).toBe('not_found');
    expect((await deps.instances.get(mine.name))!.state).toBe('claimed');
    expect(deps.publisher.teardowns).toEqual([]);
    // A reads and releases its own.
    expect((await api('GET', `/instances/${mine.name}`, { token: A })).json).toMatchObject({ name: mine.name, principal: 'team-a', assignee: 'ada' });
    expect((await api('DELETE', `/instances/${mine.name}`, { token: A })).status).toBe(202);
  });

  it("B replaying A's request id gets its own machine, never A's (and no key of A's)", async () => {
    const a = (await claimAs(A, { requestId: 'job-42' })).json;
    const b = (await claimAs(B, { requestId: 'job-42' })).json;
    expect(b.replayed).toBe(false);
    expect(b.instances[0].name).not.toBe(a.instances[0].name);
    expect(b.instances[0].principal).toBe('team-b');
    const aAgain = (await claimAs(A, { requestId: 'job-42' })).json;
    expect(aAgain).toMatchObject({ replayed: true, instances: [{ name: a.instances[0].name }] });
    expect((await deps.instances.countByState('ci')).claimed).toBe(2);
  });

  it.each([
    ['another count', { count: 2 }],
    ['another assignee', { assignee: 'grace' }],
    ['other labels', { labels: { team: 'x' } }],
  ])('a replay with %s → 422 idempotency_key_reused; nothing more is claimed', async (_n, change) => {
    await claimAs(A, { requestId: 'job-7', assignee: 'ada' });
    const res = await claimAs(A, { requestId: 'job-7', assignee: 'ada', ...change });
    expect(res.status).toBe(422);
    expect(res.json.error).toMatchObject({
      code: 'idempotency_key_reused',
      details: { requestId: 'job-7', original: { pool: 'ci', count: 1, assignee: 'ada', labels: {} } },
    });
    expect((await deps.instances.countByState('ci')).claimed).toBe(1);
  });

  it('a replay after the machine was released → 410 claim_gone with its state, never 200 with a dead machine', async () => {
    const got = (await claimAs(A, { requestId: 'job-9' })).json.instances[0];
    await api('DELETE', `/instances/${got.name}`, { token: A });
    const res = await claimAs(A, { requestId: 'job-9' });
    expect(res.status).toBe(410);
    expect(res.json.error).toMatchObject({
      code: 'claim_gone',
      details: { requestId: 'job-9', instances: [{ name: got.name, state: 'deleting', reason: 'released' }], missing: 0 },
    });
    expect(res.json).not.toHaveProperty('instances');
    // Its record gone altogether (after the audit TTL): still 410, counted as missing.
    deps.instances.records.delete(got.name);
    expect((await claimAs(A, { requestId: 'job-9' })).json.error).toMatchObject({ code: 'claim_gone', details: { instances: [], missing: 1 } });
  });

  it('an admin sees and releases every principal’s machine', async () => {
    const a = (await claimAs(A)).json.instances[0];
    const b = (await claimAs(B)).json.instances[0];
    const ready = (await deps.instances.listByPool('ci', ['ready']))[0]!;
    for (const name of [a.name, b.name, ready.name]) expect((await api('GET', `/instances/${name}`, { token: ADMIN })).status).toBe(200);
    expect((await api('DELETE', `/instances/${b.name}`, { token: ADMIN })).status).toBe(202);
    expect((await deps.instances.get(b.name))!.state).toBe('deleting');
  });

  it('the Travis route claims as the Basic password’s principal', async () => {
    await deps.pools.putPool(
      'travis',
      spec({
        image: 'projects/eco/global/images/travis-ci-garnet-trusty',
        machineType: 'n1-standard-2',
        publicIp: true,
        perMachineSshKeys: true,
        targetReady: 1,
      }),
      now,
    );
    const r = record({ pool: 'travis', state: 'ready' });
    r.sshPrivateKeyEncrypted = '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n...';
    await deps.instances.create(r);
    const res = await api('POST', '/request-instance', {
      body: { image_name: 'travis-ci-garnet-trusty', machine_type: 'n1-standard-2', public_ip: true },
      headers: { authorization: `Basic ${Buffer.from(`worker:${B}`).toString('base64')}` },
    });
    expect(res.status).toBe(200);
    expect((await deps.instances.get(res.json.name))!.claim!.principal).toBe('team-b');
    expect((await api('GET', `/instances/${res.json.name}`, { token: A })).status).toBe(404);
    expect((await api('GET', `/instances/${res.json.name}`, { token: B })).status).toBe(200);
  });
});
