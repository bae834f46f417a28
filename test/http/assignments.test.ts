/**
 * Assignments through the real functions-framework stack over the in-memory stores:
 * claims with keys, GET /instances (filters, pages, ownership), PATCH and renew.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryInstanceStore, MemoryPoolStore } from '../../shared/adapters/memory-store.js';
import { MemoryAssignmentStore } from '../../shared/adapters/memory-assignments.js';
import { memoryLogger } from '../../shared/logging.js';
import type { ApiDeps } from '../../shared/services/deps.js';
import { createApiHandler } from '../../functions/http/api.js';
import { FakePublisher } from '../support/fake-publisher.js';
import { record, spec } from '../support/builders.js';
import { call, serveFunction } from '../support/http.js';

const A = 'alpha-claim-token-0123456789';
const B = 'bravo-claim-token-0123456789';
const ADMIN = 'ops-admin-token-0123456789';
const ADA = 'ada:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaA ada@laptop';
const BOB = 'bob:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBobBobBobBobBobBobBobBobBobBobBobBobBobBobBo bob@laptop';

let deps: ApiDeps & { instances: MemoryInstanceStore; pools: MemoryPoolStore; publisher: FakePublisher };
let server: { url: string; close(): Promise<void> };
let now = 1_700_000_000_000;

beforeAll(async () => {
  server = await serveFunction(
    createApiHandler(
      'all',
      () => ({ claimTokens: [`team-a=${A}`, `team-b=${B}`], adminTokens: [`ops=${ADMIN}`], project: 'p', maxBodyBytes: 8192, retryAfterSeconds: 3 }),
      async () => deps,
      () => memoryLogger(),
    ),
  );
});
afterAll(async () => server.close());

beforeEach(async () => {
  now = 1_700_000_000_000;
  const instances = new MemoryInstanceStore();
  deps = {
    instances,
    assignments: new MemoryAssignmentStore(instances),
    pools: new MemoryPoolStore(),
    publisher: new FakePublisher(),
    clock: { now: () => now },
    logger: memoryLogger(),
  };
  await deps.pools.putPool('ci', spec({ targetReady: 4, claimLifetimeSeconds: 3600 }), now);
  await deps.pools.putPool('testers', spec({ targetReady: 2 }), now);
  for (let i = 0; i < 4; i++) await deps.instances.create(record({ pool: 'ci', state: 'ready', at: now - 10_000 + i }));
  for (let i = 0; i < 2; i++) await deps.instances.create(record({ pool: 'testers', state: 'ready', at: now - 10_000 + i }));
});

const api = (method: string, path: string, opts: Parameters<typeof call>[3] = {}) => call(server.url, method, path, opts);
const claimAs = (token: string, body: Record<string, unknown> = {}) => api('POST', '/claim', { token, body: { pool: 'ci', ...body } });

describe('claims with keys', () => {
  it('carry the keys; access is pending in the answer and in the listing', async () => {
    const res = await claimAs(A, { assignee: 'ada', sshKeys: [ADA] });
    expect(res.status).toBe(200);
    expect(res.json.instances[0]).toMatchObject({ assignee: 'ada', sshKeys: [ADA], access: { state: 'pending', appliedAt: null } });
    const list = await api('GET', '/instances', { token: A });
    expect(list.json.instances).toHaveLength(1);
    expect(list.json.instances[0]).toMatchObject({ name: res.json.instances[0].name, access: { state: 'pending' } });
    // A claim without keys has no access to apply.
    expect((await claimAs(A, {})).json.instances[0]).toMatchObject({ sshKeys: [], access: null });
  });

  it('a bad key is 400 naming the entry, and nothing is claimed', async () => {
    for (const sshKeys of [[ADA, 'ada ssh-ed25519 AAAA'], [ADA, '-----BEGIN OPENSSH PRIVATE KEY-----'], 'not-a-list']) {
      const res = await claimAs(A, { assignee: 'ada', sshKeys });
      expect(res.status).toBe(400);
      if (Array.isArray(sshKeys)) expect(new Set(res.json.error.details.map((d: { path: string }) => d.path))).toEqual(new Set(['sshKeys.1']));
    }
    expect((await claimAs(A, { assignee: 'ada', sshKeys: [ADA], lifetimeSeconds: 5 })).status).toBe(400);
    expect((await deps.instances.countByState('ci')).claimed).toBe(0);
  });

  it('a retry with other keys is a different claim (422); with the same keys it replays', async () => {
    const first = await claimAs(A, { requestId: 'r1', assignee: 'ada', sshKeys: [ADA] });
    expect((await claimAs(A, { requestId: 'r1', assignee: 'ada', sshKeys: [ADA] })).json).toMatchObject({
      replayed: true,
      instances: [{ name: first.json.instances[0].name }],
    });
    const other = await claimAs(A, { requestId: 'r1', assignee: 'ada', sshKeys: [BOB] });
    expect(other.status).toBe(422);
    expect((await deps.instances.countByState('ci')).claimed).toBe(1);
  });

  it("a claim's own lifetime sets its expiry", async () => {
    const res = await claimAs(A, { lifetimeSeconds: 60 });
    expect(res.json.instances[0].expiresAt).toBe(new Date(now + 60_000).toISOString());
  });
});

describe('GET /instances', () => {
  it('a claim token sees only its own principal; an admin sees all, filtered', async () => {
    await claimAs(A, { assignee: 'ada' });
    await claimAs(B, { assignee: 'bob' });
    await api('POST', '/claim', { token: B, body: { pool: 'testers', assignee: 'bob' } });
    const a = await api('GET', '/instances', { token: A });
    expect(a.json.instances.map((i: { principal: string }) => i.principal)).toEqual(['team-a']);
    const b = await api('GET', '/instances?state=claimed', { token: B });
    expect(b.json.instances).toHaveLength(2);
    expect((await api('GET', '/instances?assignee=ada', { token: B })).json.instances).toEqual([]);
    const all = await api('GET', '/instances', { token: ADMIN });
    expect(all.json.instances).toHaveLength(6);
    expect((await api('GET', '/instances?pool=testers', { token: ADMIN })).json.instances).toHaveLength(2);
    expect((await api('GET', '/instances?pool=ci&state=ready', { token: ADMIN })).json.instances).toHaveLength(2);
    expect((await api('GET', '/instances?state=claimed&assignee=bob', { token: ADMIN })).json.instances).toHaveLength(2);
    expect((await api('GET', '/instances?state=ready,claimed&pool=ci', { token: ADMIN })).json.instances).toHaveLength(4);
  });

  it('pages with a token and a bounded limit', async () => {
    const names: string[] = [];
    let token: string | null = null;
    for (let i = 0; i < 10; i++) {
      const res = await api('GET', `/instances?limit=4${token ? `&pageToken=${token}` : ''}`, { token: ADMIN });
      expect(res.status).toBe(200);
      names.push(...res.json.instances.map((x: { name: string }) => x.name));
      token = res.json.nextPageToken;
      if (!token) break;
    }
    expect(names).toHaveLength(6);
    expect(new Set(names).size).toBe(6);
  });

  it('bad queries are 400 with what is wrong', async () => {
    for (const [q, msg] of [
      ['limit=0', /limit/],
      ['limit=501', /limit/],
      ['limit=abc', /limit/],
      ['state=sleeping', /not a state/],
      ['pool=Bad_Pool', /pool/],
      ['pageToken=%21%21', /pageToken/],
      ['color=red', /unknown query parameter "color"/],
      ['pool=ci&pool=testers', /once/],
    ] as const) {
      const res = await api('GET', `/instances?${q}`, { token: ADMIN });
      expect(res.status, q).toBe(400);
      expect(res.json.error.message, q).toMatch(msg);
    }
  });
});

describe('PATCH /instances/{name} and renew', () => {
  async function claimed(token = A, body: Record<string, unknown> = { assignee: 'ada', sshKeys: [ADA] }) {
    return (await claimAs(token, body)).json.instances[0] as { name: string; expiresAt: string };
  }

  it('extends by seconds or to a time; a past time is 400 and changes nothing', async () => {
    const m = await claimed();
    const by = await api('PATCH', `/instances/${m.name}`, { token: A, body: { extendBySeconds: 600 } });
    expect(by.status).toBe(200);
    expect(by.json.expiresAt).toBe(new Date(now + 3600_000 + 600_000).toISOString());
    const until = new Date(now + 7 * 86400_000).toISOString();
    expect((await api('PATCH', `/instances/${m.name}`, { token: A, body: { expiresAt: until } })).json.expiresAt).toBe(until);
    const past = await api('PATCH', `/instances/${m.name}`, { token: A, body: { expiresAt: new Date(now - 1000).toISOString() } });
    expect(past.status).toBe(400);
    expect(past.json.error.message).toMatch(/past/);
    expect((await deps.instances.get(m.name))!.claim!.expiresAt).toBe(Date.parse(until));
    for (const body of [{}, { expiresAt: 'tomorrow' }, { extendBySeconds: 0 }, { sshKeys: [BOB] }, { expiresAt: until, extendBySeconds: 5 }, { owner: 'x' }]) {
      expect((await api('PATCH', `/instances/${m.name}`, { token: A, body })).status, JSON.stringify(body)).toBe(400);
    }
  });

  it('reassigns: the new keys pending, the old ones to be removed; a refill is asked for', async () => {
    const m = await claimed();
    const res = await api('PATCH', `/instances/${m.name}`, { token: A, body: { assignee: 'bob', sshKeys: [BOB] } });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ assignee: 'bob', sshKeys: [BOB], access: { state: 'pending' } });
    expect((await deps.instances.get(m.name))!.claim!.access).toMatchObject({ state: 'pending', version: 2, revoke: [ADA] });
    await new Promise((r) => setTimeout(r, 20));
    expect(deps.publisher.refills.map((r) => r.reason)).toContain('access');
    expect((await api('GET', '/instances?assignee=bob', { token: A })).json.instances.map((i: { name: string }) => i.name)).toEqual([m.name]);
  });

  it('another principal gets 404 exactly as for a missing machine, and changes nothing', async () => {
    const m = await claimed();
    for (const [method, path, body] of [
      ['PATCH', `/instances/${m.name}`, { extendBySeconds: 60 }],
      ['POST', `/instances/${m.name}/renew`, undefined],
    ] as const) {
      const res = await api(method, path, { token: B, ...(body ? { body } : {}) });
      expect(res.status).toBe(404);
      expect(res.json).toEqual({ error: { code: 'not_found', message: `instance "${m.name}" does not exist` } });
    }
    expect((await api('PATCH', '/instances/ci-none', { token: ADMIN, body: { extendBySeconds: 60 } })).status).toBe(404);
    expect((await deps.instances.get(m.name))!.claim!.expiresAt).toBe(now + 3600_000);
    // An admin may change it.
    expect((await api('PATCH', `/instances/${m.name}`, { token: ADMIN, body: { extendBySeconds: 60 } })).status).toBe(200);
  });

  it('renew moves the expiry one claim lifetime from now; a ready machine is 409 for an admin', async () => {
    const m = await claimed(A, { lifetimeSeconds: 60 });
    now += 50_000;
    const res = await api('POST', `/instances/${m.name}/renew`, { token: A });
    expect(res.status).toBe(200);
    expect(res.json.expiresAt).toBe(new Date(now + 60_000).toISOString());
    const ready = (await deps.instances.listByPool('ci', ['ready']))[0]!;
    expect((await api('POST', `/instances/${ready.name}/renew`, { token: ADMIN })).status).toBe(409);
    expect((await api('POST', `/instances/${ready.name}/renew`, { token: A })).status).toBe(404);
  });

  it('a claim without a lifetime cannot be renewed or extended by (409/400)', async () => {
    const m = (await api('POST', '/claim', { token: A, body: { pool: 'testers', assignee: 'ada' } })).json.instances[0];
    expect((await api('POST', `/instances/${m.name}/renew`, { token: A })).status).toBe(409);
    expect((await api('PATCH', `/instances/${m.name}`, { token: A, body: { extendBySeconds: 60 } })).status).toBe(400);
    const until = new Date(now + 86400_000).toISOString();
    expect((await api('PATCH', `/instances/${m.name}`, { token: A, body: { expiresAt: until } })).json.expiresAt).toBe(until);
  });
});
