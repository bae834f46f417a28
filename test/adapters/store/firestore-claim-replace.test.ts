/**
 * The Firestore claim when its pick proves stale: another instance took the machine after
 * this one read its candidates. The claim replaces the pick inside the same transaction,
 * from a fresh read, instead of rolling back and starting over; and when no replacement
 * is left, it rolls back and answers from what is really ready. Outcomes and the
 * emulator's own counts of transactions, commits and rollbacks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Firestore } from '@google-cloud/firestore';
import { createFirestore } from '../../../shared/adapters/firestore-client.js';
import { FirestoreInstanceStore } from '../../../shared/adapters/firestore-instance-store.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../../local/firestore/emulator.js';
import type { ClaimRequest } from '../../../shared/domain/claim.js';
import type { StoreStats } from '../../../local/firestore/stats.js';
import { record } from '../../support/builders.js';
import { FakeClock } from '../../support/fake-clock.js';

let emulator: FirestoreEmulator;
const clients: Firestore[] = [];
let n = 0;

beforeAll(async () => {
  emulator = await startFirestoreEmulator();
  for (let i = 0; i < 2; i++) clients.push(createFirestore({ projectId: 'warmer-replace', emulatorHost: emulator.hostPort }));
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.terminate()));
  await emulator.stop();
});

/** Two instances (own clients, own candidate caches) on one pool of `count` ready machines, oldest first. */
async function twoInstances(count: number) {
  const prefix = `replace${++n}_`;
  // A clock that stands still: the first instance's candidate cache never expires on its own.
  const clock = new FakeClock();
  // random 0: each claim picks exactly the oldest candidate it knows of.
  const [a, b] = clients.map((db) => new FirestoreInstanceStore(db, { prefix, clock, random: () => 0 }));
  const t = clock.now() - 60_000;
  const names = Array.from({ length: count }, (_, i) => `replace-m${i}`);
  for (const [i, name] of names.entries()) await a!.create(record({ pool: 'p', state: 'ready', at: t + i, name }));
  return { a: a!, b: b!, names, clock };
}

const req = (requestId: string, now: number): ClaimRequest => ({
  pool: 'p',
  principal: 'alice',
  requestId,
  count: 1,
  now,
  assignee: null,
  labels: {},
  lifetimeSeconds: null,
});

const since = (before: StoreStats) => {
  const after = emulator.store.stats;
  return {
    transactions: after.transactions - before.transactions,
    commits: after.transactionCommits - before.transactionCommits,
    rollbacks: after.rollbacks - before.rollbacks,
  };
};

const claimedNames = (o: Awaited<ReturnType<FirestoreInstanceStore['claim']>>) => (o.kind === 'claimed' ? o.instances.map((i) => i.name) : o.kind);

describe('a stale pick', () => {
  it('is replaced inside the same transaction: one transaction, one commit, no rollback', async () => {
    const { a, b, names, clock } = await twoInstances(3);
    // a reads the candidates (m0, m1, m2) and takes m0; its cache still lists m1 and m2.
    expect(claimedNames(await a.claim(req('a1', clock.now())))).toEqual([names[0]]);
    // Another instance takes m1 meanwhile.
    expect(claimedNames(await b.claim(req('b1', clock.now())))).toEqual([names[1]]);

    const before = emulator.store.stats;
    // a picks m1 from its cache, finds it taken, and takes m2 in the same transaction.
    expect(claimedNames(await a.claim(req('a2', clock.now())))).toEqual([names[2]]);
    expect(since(before)).toEqual({ transactions: 1, commits: 1, rollbacks: 0 });
    const counts = await a.countByState('p');
    expect(counts.ready ?? 0).toBe(0);
    expect(counts.claimed).toBe(3);
  });

  it('with nothing left to replace it: rolls back and answers empty, claiming nothing', async () => {
    const { a, b, names, clock } = await twoInstances(2);
    expect(claimedNames(await a.claim(req('a1', clock.now())))).toEqual([names[0]]);
    expect(claimedNames(await b.claim(req('b1', clock.now())))).toEqual([names[1]]);

    const before = emulator.store.stats;
    expect(claimedNames(await a.claim(req('a2', clock.now())))).toBe('empty');
    const d = since(before);
    expect(d.commits).toBe(0);
    expect(d.rollbacks).toBe(1);
    const counts = await a.countByState('p');
    expect(counts.claimed).toBe(2);
  });
});
