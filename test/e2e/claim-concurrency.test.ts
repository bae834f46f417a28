/**
 * 64 concurrent claimers against a pool of 40 ready machines, through the real HTTP stack
 * (functions-framework) and the embedded Firestore emulator (isolated transactions):
 * exactly 40 distinct machines claimed, the rest 503, never a machine twice, never a 5xx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Firestore } from '@google-cloud/firestore';
import { createFirestore } from '../../shared/adapters/firestore-client.js';
import { FirestoreInstanceStore } from '../../shared/adapters/firestore-instance-store.js';
import { FirestorePoolStore } from '../../shared/adapters/firestore-pool-store.js';
import { silentLogger } from '../../shared/logging.js';
import type { ApiDeps } from '../../shared/services/deps.js';
import { createApiHandler } from '../../functions/http/api.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../local/firestore/emulator.js';
import { FakePublisher } from '../support/fake-publisher.js';
import { record, spec } from '../support/builders.js';
import { call, serveFunction } from '../support/http.js';

const TOKEN = 'claim-token-concurrency-0123';
let emulator: FirestoreEmulator;
let db: Firestore;
let server: { url: string; close(): Promise<void> };
let deps: ApiDeps;
let n = 0;

beforeAll(async () => {
  emulator = await startFirestoreEmulator();
  db = createFirestore({ projectId: 'warmer-e2e', emulatorHost: emulator.hostPort });
  deps = {
    pools: new FirestorePoolStore(db, { prefix: 'cc_' }),
    instances: new FirestoreInstanceStore(db, { prefix: 'cc_' }),
    publisher: new FakePublisher(),
    clock: { now: () => Date.now() },
    logger: silentLogger,
  };
  server = await serveFunction(
    createApiHandler(
      'claim',
      () => ({ claimTokens: [TOKEN], adminTokens: [], project: 'p', maxBodyBytes: 65536, retryAfterSeconds: 3 }),
      async () => deps,
      () => silentLogger,
    ),
  );
});
afterAll(async () => {
  await server.close();
  await db.terminate();
  await emulator.stop();
});

async function poolWithReady(count: number): Promise<string> {
  const pool = `conc-${++n}`;
  await deps.pools.putPool(pool, spec({ targetReady: 0, maxSize: 100 }), Date.now());
  const t = Date.now() - 60_000;
  await Promise.all(Array.from({ length: count }, (_, i) => deps.instances.create(record({ pool, state: 'ready', at: t + i }))));
  return pool;
}

const claim = (pool: string, requestId?: string) => call(server.url, 'POST', '/claim', { token: TOKEN, body: requestId ? { pool, requestId } : { pool } });

describe('claim under concurrency (HTTP + embedded Firestore)', () => {
  it('64 claimers, 40 ready: exactly 40 distinct machines, 24 × 503, no 5xx', async () => {
    const pool = await poolWithReady(40);
    const results = await Promise.all(Array.from({ length: 64 }, () => claim(pool)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(40);
    expect(statuses.filter((s) => s === 503)).toHaveLength(24);
    for (const r of results.filter((x) => x.status === 503)) expect(r.headers.get('retry-after')).toBe('3');
    const names = results.filter((r) => r.status === 200).map((r) => r.json.instances[0].name as string);
    expect(new Set(names).size).toBe(40);
    const counts = await deps.instances.countByState(pool);
    expect(counts).toMatchObject({ ready: 0, claimed: 40 });
  });

  it('retried request ids never yield a second machine', async () => {
    const pool = await poolWithReady(40);
    // 32 distinct requests, each sent twice at once, plus 16 more sent once: 48 requests for 40 machines.
    const ids = Array.from({ length: 32 }, (_, i) => `job-${n}-${i}`);
    const extra = Array.from({ length: 16 }, (_, i) => `extra-${n}-${i}`);
    const sends = [...ids, ...ids, ...extra];
    const results = await Promise.all(sends.map((id) => claim(pool, id).then((r) => ({ id, r }))));
    expect(results.every(({ r }) => r.status === 200 || r.status === 503)).toBe(true);
    const byId = new Map<string, Set<string>>();
    for (const { id, r } of results) {
      if (r.status !== 200) continue;
      const set = byId.get(id) ?? new Set<string>();
      for (const i of r.json.instances) set.add(i.name);
      byId.set(id, set);
    }
    // every request id got at most one machine, however many times it was sent
    for (const set of byId.values()) expect(set.size).toBe(1);
    const allNames = [...byId.values()].flatMap((s) => [...s]);
    expect(new Set(allNames).size).toBe(allNames.length);
    const counts = await deps.instances.countByState(pool);
    expect(counts.claimed).toBe(allNames.length);
    // both sends of a duplicated id agree
    for (const id of ids) {
      const answers = results.filter((x) => x.id === id && x.r.status === 200).map((x) => x.r.json.instances[0].name);
      expect(new Set(answers).size).toBeLessThanOrEqual(1);
    }
    // 40 machines, 48 distinct ids: 40 served, 8 ids refused
    expect(allNames.length).toBe(40);
  });
});
