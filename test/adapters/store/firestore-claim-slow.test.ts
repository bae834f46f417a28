/**
 * The Firestore claim on a slow backend (every commit delayed by the emulator): a claim
 * that finds every ready machine being tried by other claims of this process waits for
 * them, however long their transactions take, instead of answering "empty" while a
 * machine one of them gives up on is still ready.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Firestore } from '@google-cloud/firestore';
import { createFirestore } from '../../../shared/adapters/firestore-client.js';
import { FirestoreInstanceStore } from '../../../shared/adapters/firestore-instance-store.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../../local/firestore/emulator.js';
import type { ClaimOutcome, ClaimRequest } from '../../../shared/domain/claim.js';
import { record } from '../../support/builders.js';

let emulator: FirestoreEmulator;
let db: Firestore;
let n = 0;

beforeAll(async () => {
  emulator = await startFirestoreEmulator();
  db = createFirestore({ projectId: 'warmer-slow', emulatorHost: emulator.hostPort });
});
afterEach(() => emulator.setCommitLatency(0));
afterAll(async () => {
  await db.terminate();
  await emulator.stop();
});

async function storeWithReady(count: number) {
  const prefix = `slow${++n}_`;
  const store = new FirestoreInstanceStore(db, { prefix });
  const pool = 'slow';
  const t = Date.now() - 60_000;
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = record({ pool, state: 'ready', at: t + i });
    names.push(r.name);
    await store.create(r);
  }
  return { store, pool, names };
}

const request = (pool: string, requestId: string): ClaimRequest => ({
  pool,
  principal: 'alice',
  requestId,
  count: 1,
  now: Date.now(),
  assignee: null,
  labels: {},
  lifetimeSeconds: null,
});

const claimedNames = (o: ClaimOutcome) => (o.kind === 'claimed' ? o.instances.map((i) => i.name) : []);

describe('claim on a slow backend', () => {
  it('a claim waits out a receipt race that leaves a machine ready, and takes it', async () => {
    const { store, pool, names } = await storeWithReady(2);
    // Each commit takes 3.5 s: longer than any fixed wait measured from the claim's start
    // would have allowed (the old 3 s cap lost this machine under CI load).
    emulator.setCommitLatency(3_500);
    // The same request sent twice at once, and one other request: 2 machines, 2 requests.
    const [a, b, other] = await Promise.all([store.claim(request(pool, 'job-1')), store.claim(request(pool, 'job-1')), store.claim(request(pool, 'job-2'))]);
    expect(a.kind).toBe('claimed');
    expect(b.kind).toBe('claimed');
    expect(claimedNames(a)).toEqual(claimedNames(b));
    expect(other.kind).toBe('claimed');
    const all = new Set([...claimedNames(a), ...claimedNames(other)]);
    expect([...all].sort()).toEqual([...names].sort());
    emulator.setCommitLatency(0);
    for (const name of names) expect((await store.get(name))?.state).toBe('claimed');
  }, 30_000);

  it('with every machine taken, a waiting claim answers empty once the others settle', async () => {
    const { store, pool } = await storeWithReady(1);
    emulator.setCommitLatency(300);
    const outcomes = await Promise.all([store.claim(request(pool, 'a')), store.claim(request(pool, 'b')), store.claim(request(pool, 'c'))]);
    expect(outcomes.filter((o) => o.kind === 'claimed')).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === 'empty')).toHaveLength(2);
  }, 30_000);
});
