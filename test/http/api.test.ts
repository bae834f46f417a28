/**
 * The HTTP API through the real functions-framework stack, over the in-memory store:
 * routes, auth, validation, error shapes, the Travis contract. The same API over the
 * embedded Firestore emulator is exercised by test/e2e/claim-concurrency.test.ts.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryInstanceStore, MemoryPoolStore } from '../../shared/adapters/memory-store.js';
import { hashToken } from '../../shared/auth.js';
import { memoryLogger } from '../../shared/logging.js';
import type { ApiDeps } from '../../shared/services/deps.js';
import { createApiHandler } from '../../functions/http/api.js';
import { FakePublisher } from '../support/fake-publisher.js';
import { record, spec } from '../support/builders.js';
import { call, serveFunction } from '../support/http.js';

const CLAIM = 'claim-token-0123456789';
const ADMIN = 'admin-token-0123456789';
const HASHED_CLAIM = 'hashed-claim-token-abcdef';

let deps: ApiDeps & { instances: MemoryInstanceStore; pools: MemoryPoolStore; publisher: FakePublisher };
let server: { url: string; close(): Promise<void> };
let now = 1_700_000_000_000;
const logger = memoryLogger();

beforeAll(async () => {
  const handler = createApiHandler(
    'all',
    () => ({ claimTokens: [CLAIM, hashToken(HASHED_CLAIM)], adminTokens: [ADMIN], project: 'p', maxBodyBytes: 4096, retryAfterSeconds: 7 }),
    async () => deps,
    () => logger,
  );
  server = await serveFunction(handler);
});
afterAll(async () => server.close());

beforeEach(async () => {
  deps = {
    instances: new MemoryInstanceStore(),
    pools: new MemoryPoolStore(),
    publisher: new FakePublisher(),
    clock: { now: () => now },
    logger,
  };
  await deps.pools.putPool('ci', spec({ targetReady: 3, claimLifetimeSeconds: 3600 }), now);
  for (let i = 0; i < 3; i++) await deps.instances.create(record({ pool: 'ci', state: 'ready', at: now - 10_000 + i }));
});

const api = (method: string, path: string, opts: Parameters<typeof call>[3] = {}) => call(server.url, method, path, opts);

describe('auth', () => {
  it.each([
    ['no header', {}, 401],
    ['unknown token', { token: 'nope-nope-nope-nope' }, 401],
    ['claim token on an admin route', { token: CLAIM }, 403],
  ])('GET /pools with %s → %d', async (_n, opts, status) => {
    const res = await api('GET', '/pools', opts);
    expect(res.status).toBe(status);
    expect(res.json.error.code).toBe(status === 401 ? 'unauthorized' : 'forbidden');
  });

  it('accepts a token configured as a sha256 hash', async () => {
    const res = await api('POST', '/claim', { token: HASHED_CLAIM, body: { pool: 'ci' } });
    expect(res.status).toBe(200);
  });

  it('admin tokens may claim; claim tokens may not change pools', async () => {
    expect((await api('POST', '/claim', { token: ADMIN, body: { pool: 'ci' } })).status).toBe(200);
    const put = await api('PUT', '/pools/ci', { token: CLAIM, body: {} });
    expect(put.status).toBe(403);
    expect((await deps.pools.getPool('ci'))!.spec.targetReady).toBe(3);
  });
});

describe('POST /claim', () => {
  it('claims a ready machine, oldest first, and asks the pool to refill', async () => {
    const res = await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci', assignee: 'ada@example.com', labels: { team: 'infra' } } });
    expect(res.status).toBe(200);
    expect(res.json.instances).toHaveLength(1);
    const got = res.json.instances[0];
    expect(got).toMatchObject({ pool: 'ci', state: 'claimed', assignee: 'ada@example.com', labels: { team: 'infra' }, zone: 'us-central1-a' });
    expect(got.expiresAt).toBe(new Date(now + 3600_000).toISOString());
    expect((await deps.instances.get(got.name))!.state).toBe('claimed');
    expect(deps.publisher.refills).toEqual([{ pool: 'ci', reason: 'claimed' }]);
  });

  it('the same requestId returns the same machine; the Idempotency-Key header works too', async () => {
    const a = await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci', requestId: 'job-42' } });
    const b = await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci', requestId: 'job-42' } });
    expect(b.json.instances[0].name).toBe(a.json.instances[0].name);
    expect(b.json.replayed).toBe(true);
    const c = await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci' }, headers: { 'idempotency-key': 'job-42' } });
    expect(c.json.instances[0].name).toBe(a.json.instances[0].name);
    expect((await deps.instances.countByState('ci')).claimed).toBe(1);
  });

  it('a multi-machine claim is all or nothing: 503 with Retry-After, nothing changes', async () => {
    const res = await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci', count: 4 } });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.json.error).toMatchObject({ code: 'pool_empty', details: { available: 3, requested: 4 } });
    expect((await deps.instances.countByState('ci')).ready).toBe(3);
    expect(deps.publisher.refills).toEqual([{ pool: 'ci', reason: 'empty' }]);
    const ok = await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci', count: 3 } });
    expect(ok.json.instances).toHaveLength(3);
  });

  it('unknown pool → 404; disabled pool → 409', async () => {
    expect((await api('POST', '/claim', { token: CLAIM, body: { pool: 'nope' } })).status).toBe(404);
    await deps.pools.putPool('off', spec({ enabled: false }), now);
    const res = await api('POST', '/claim', { token: CLAIM, body: { pool: 'off' } });
    expect(res.status).toBe(409);
    expect(res.json.error.code).toBe('pool_disabled');
  });

  it('a claim still succeeds when the refill message cannot be published', async () => {
    deps.publisher.failNext = 1;
    const res = await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci' } });
    expect(res.status).toBe(200);
  });

  it.each([
    ['malformed JSON', { rawBody: '{"pool": "ci"', headers: { 'content-type': 'application/json' } }, 400],
    ['no body', {}, 400],
    ['wrong type', { body: { pool: 'ci', count: '2' } }, 400],
    ['unknown field', { body: { pool: 'ci', colour: 'red' } }, 400],
    ['bad pool name', { body: { pool: 'CI!' } }, 400],
    ['count 0', { body: { pool: 'ci', count: 0 } }, 400],
    ['upper-case label', { body: { pool: 'ci', labels: { Team: 'x' } } }, 400],
    ['bad requestId', { body: { pool: 'ci', requestId: 'a b' } }, 400],
    ['an array body', { body: [1, 2] }, 400],
    ['oversized body', { body: { pool: 'ci', assignee: 'x'.repeat(5000) } }, 413],
    ['text body', { rawBody: 'pool=ci', headers: { 'content-type': 'text/plain' } }, 415],
  ])('%s → %d, JSON error, nothing claimed', async (_n, opts, status) => {
    const res = await api('POST', '/claim', { token: CLAIM, ...opts });
    expect(res.status).toBe(status);
    expect(res.json?.error?.code).toBeTypeOf('string');
    expect(res.json.error.message).toBeTypeOf('string');
    expect((await deps.instances.countByState('ci')).ready).toBe(3);
  });
});

describe('instances', () => {
  it('GET returns the record; DELETE releases it (202) and publishes a teardown; twice is harmless', async () => {
    const claimed = (await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci' } })).json.instances[0];
    const got = await api('GET', `/instances/${claimed.name}`, { token: CLAIM });
    expect(got.json).toMatchObject({ name: claimed.name, state: 'claimed' });
    const rel = await api('DELETE', `/instances/${claimed.name}`, { token: CLAIM });
    expect(rel.status).toBe(202);
    expect(rel.json.instance.state).toBe('deleting');
    expect(deps.publisher.teardowns).toEqual([{ instance: claimed.name, pool: 'ci', reason: 'released' }]);
    const again = await api('DELETE', `/instances/${claimed.name}`, { token: CLAIM });
    expect(again.status).toBe(202);
    expect(again.json.alreadyReleased).toBe(true);
    expect(deps.publisher.teardowns).toHaveLength(1);
  });

  it('a claim token cannot release a ready machine (not its own: 404, as if missing); an admin token can', async () => {
    const ready = (await deps.instances.listByPool('ci', ['ready']))[0]!;
    expect((await api('DELETE', `/instances/${ready.name}`, { token: CLAIM })).status).toBe(404);
    expect((await deps.instances.get(ready.name))!.state).toBe('ready');
    expect((await api('DELETE', `/instances/${ready.name}`, { token: ADMIN })).status).toBe(202);
  });

  it('unknown → 404, bad name → 400, wrong method → 405, unknown route → 404', async () => {
    expect((await api('GET', '/instances/nope', { token: CLAIM })).status).toBe(404);
    expect((await api('GET', '/instances/Bad_Name', { token: CLAIM })).status).toBe(400);
    expect((await api('PUT', '/claim', { token: CLAIM, body: {} })).status).toBe(405);
    expect((await api('GET', '/nowhere', { token: CLAIM })).json.error.code).toBe('not_found');
  });
});

describe('POST /request-instance (the Travis worker)', () => {
  const travisBody = {
    site: 'org',
    zone: 'us-central1-a',
    image_name: 'https://www.googleapis.com/compute/v1/projects/eco/global/images/travis-ci-garnet-trusty',
    machine_type: 'https://www.googleapis.com/compute/v1/projects/eco/zones/us-central1-a/machineTypes/n1-standard-2',
    public_ip: true,
  };
  /** Makes every store claim take `ms` on the fake clock. */
  const claimsTake = (ms: number) => {
    const claim = deps.instances.claim.bind(deps.instances);
    deps.instances.claim = async (req) => {
      const out = await claim(req);
      now += ms;
      return out;
    };
  };
  const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`worker:${password}`).toString('base64')}` });

  beforeEach(async () => {
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
    r.publicIp = '127.1.2.3';
    r.sshPrivateKeyEncrypted = '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n...';
    await deps.instances.create(r);
  });

  it('answers the exact request with the fields the worker reads', async () => {
    const res = await api('POST', '/request-instance', { body: travisBody, headers: basic(CLAIM) });
    expect(res.status).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual(['ip', 'name', 'public_ip', 'ssh_private_key', 'zone']);
    for (const v of Object.values(res.json)) expect(v).toBeTypeOf('string');
    expect(res.json.public_ip).toBe('127.1.2.3');
    expect(res.json.zone).toBe('us-central1-a');
    expect(res.json.ssh_private_key).toContain('Proc-Type: 4,ENCRYPTED');
    expect((await deps.instances.get(res.json.name))!.state).toBe('claimed');
  });

  it('accepts public_ip as the string "true"', async () => {
    const res = await api('POST', '/request-instance', { body: { ...travisBody, public_ip: 'true' }, headers: basic(CLAIM) });
    expect(res.status).toBe(200);
  });

  it('404 {"error":"no config found for pool"} when nothing matches (private ip asked)', async () => {
    const res = await api('POST', '/request-instance', { body: { ...travisBody, public_ip: false }, headers: basic(CLAIM) });
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ error: 'no config found for pool' });
  });

  it('409 {"error":"no instance available in pool"} when empty', async () => {
    expect((await api('POST', '/request-instance', { body: travisBody, headers: basic(CLAIM) })).status).toBe(200);
    const res = await api('POST', '/request-instance', { body: travisBody, headers: basic(CLAIM) });
    expect(res.status).toBe(409);
    expect(res.json).toEqual({ error: 'no instance available in pool' });
  });

  it('a machine claimed after the worker stopped waiting is released, not leaked, and the answer is 409', async () => {
    // The claim's transaction takes 6 s on the (fake) clock: past the worker's 5 s wait.
    claimsTake(6_000);
    const res = await api('POST', '/request-instance', { body: travisBody, headers: basic(CLAIM) });
    expect(res.status).toBe(409);
    expect(res.json).toEqual({ error: 'no instance available in pool' });
    const travis = await deps.instances.listByPool('travis');
    expect(travis.map((r) => [r.state, r.reason])).toEqual([['deleting', 'answer_late']]);
    expect(deps.publisher.teardowns.map((t) => [t.instance, t.reason])).toEqual([[travis[0]!.name, 'answer_late']]);
  });

  it('a late machine whose release fails is logged at ERROR; the answer is still 409', async () => {
    claimsTake(6_000);
    deps.instances.transition = async () => {
      throw new Error('firestore unavailable');
    };
    const res = await api('POST', '/request-instance', { body: travisBody, headers: basic(CLAIM) });
    expect(res.status).toBe(409);
    const entry = logger.entries.find((e) => e.message === 'late claim not released');
    expect(entry).toMatchObject({ severity: 'ERROR', pool: 'travis' });
  });

  it('an answer within the budget keeps the machine claimed', async () => {
    claimsTake(3_000);
    const res = await api('POST', '/request-instance', { body: travisBody, headers: basic(CLAIM) });
    expect(res.status).toBe(200);
    expect((await deps.instances.get(res.json.name))!.state).toBe('claimed');
  });

  it('401 with a wrong Basic password', async () => {
    expect((await api('POST', '/request-instance', { body: travisBody, headers: basic('wrong-wrong-wrong') })).status).toBe(401);
  });
});

describe('admin', () => {
  const newSpec = {
    image: 'projects/debian-cloud/global/images/family/debian-12',
    machineType: 'e2-small',
    zones: ['europe-west4-a'],
    targetReady: 2,
    maxSize: 4,
  };

  it('PUT creates (201) then replaces (200); GET shows spec and live counts', async () => {
    const created = await api('PUT', '/pools/linux', { token: ADMIN, body: newSpec });
    expect(created.status).toBe(201);
    expect(created.json.spec.healthCheck.port).toBe(22);
    const replaced = await api('PUT', '/pools/linux', { token: ADMIN, body: { ...newSpec, targetReady: 3 } });
    expect(replaced.status).toBe(200);
    const got = await api('GET', '/pools/ci', { token: ADMIN });
    expect(got.json.counts.ready).toBe(3);
    const list = await api('GET', '/pools', { token: ADMIN });
    expect(list.json.pools.map((p: { name: string }) => p.name)).toEqual(['ci', 'linux']);
    expect(deps.publisher.refills.map((r) => r.pool)).toEqual(['linux', 'linux']);
  });

  it('PUT with a bad spec → 400 listing every problem; nothing stored', async () => {
    const res = await api('PUT', '/pools/linux', { token: ADMIN, body: { ...newSpec, targetReady: 9, zones: ['nowhere'], extra: 1 } });
    expect(res.status).toBe(400);
    expect(res.json.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['(spec)', 'targetReady', 'zones.0']);
    expect(await deps.pools.getPool('linux')).toBeNull();
  });

  it('PUT with a bad pool name → 400', async () => {
    expect((await api('PUT', '/pools/Linux', { token: ADMIN, body: newSpec })).status).toBe(400);
  });

  it('DELETE disables the pool (202); it then refuses claims; claimed machines stay', async () => {
    const claimed = (await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci' } })).json.instances[0];
    const res = await api('DELETE', '/pools/ci', { token: ADMIN });
    expect(res.status).toBe(202);
    expect(res.json.spec.enabled).toBe(false);
    expect((await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci' } })).status).toBe(409);
    expect((await deps.instances.get(claimed.name))!.state).toBe('claimed');
  });

  it('GET /status sums the pools', async () => {
    const res = await api('GET', '/status', { token: ADMIN });
    expect(res.json).toMatchObject({ pools: 1, enabledPools: 1, counts: { ready: 3 } });
  });
});

describe('logging', () => {
  it('writes JSON lines with severity and never the token', () => {
    expect(logger.entries.length).toBeGreaterThan(0);
    for (const e of logger.entries) {
      expect(['DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR']).toContain(e.severity);
      expect(JSON.stringify(e)).not.toContain(CLAIM);
      expect(JSON.stringify(e)).not.toContain(ADMIN);
    }
  });
});
