/**
 * Pins every Firestore behaviour warmer relies on, through the real
 * @google-cloud/firestore client.
 *
 * Runs against the embedded emulator (local/firestore) by default. With
 * FIRESTORE_EMULATOR_HOST set it runs, unchanged, against that emulator instead (e.g.
 * Google's own: `gcloud emulators firestore start --host-port=127.0.0.1:8080`), so what
 * it checks is Firestore's semantics, not the embedded emulator's. Each test works under
 * its own root document, so no reset is needed and runs never see each other's data.
 */
import { randomUUID } from 'node:crypto';
import { FieldValue, Timestamp, type CollectionReference, type Firestore, type Query } from '@google-cloud/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../../local/firestore/emulator.js';
import { createFirestore } from '../../../shared/adapters/firestore-client.js';

const externalHost = process.env['FIRESTORE_EMULATOR_HOST'] || null;

let emulator: FirestoreEmulator | null = null;
let db: Firestore;

beforeAll(async () => {
  if (!externalHost) emulator = await startFirestoreEmulator({ port: 0 });
  db = createFirestore({ projectId: 'warmer-test', emulatorHost: externalHost ?? emulator?.hostPort ?? null });
});

afterAll(async () => {
  await db?.terminate();
  await emulator?.stop();
});

/** A fresh `instances` collection (and siblings) under a root of its own. */
function scope(): { instances: CollectionReference; collection: (id: string) => CollectionReference } {
  const root = db.collection('conformance').doc(randomUUID());
  return { instances: root.collection('instances'), collection: (id) => root.collection(id) };
}

/** The gRPC status code carried by a rejected client call. */
async function codeOf(promise: Promise<unknown>): Promise<number | 'resolved'> {
  try {
    await promise;
    return 'resolved';
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

const POOL = 'ubuntu-small';
/**
 * Where every transaction contends for one document (the hot spot FACTS.md warns about),
 * the client's default budget of 5 attempts can run out under a loaded machine, on any
 * emulator and in production. Those tests pin correctness, not the retry budget.
 */
const HOT_SPOT = { maxAttempts: 10 };
const t0 = Timestamp.fromMillis(Date.UTC(2026, 0, 1));
const at = (seconds: number): Timestamp => Timestamp.fromMillis(t0.toMillis() + seconds * 1000);

/** 20 ready instances of POOL (readyAt 1..20 s, shuffled), plus noise that must never be claimed. */
async function seedPool(instances: CollectionReference): Promise<void> {
  const batch = db.batch();
  const order = Array.from({ length: 20 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
  for (const i of order) {
    batch.set(instances.doc(`vm-${String(i).padStart(2, '0')}`), { pool: POOL, state: 'ready', readyAt: at(i), updatedAt: at(i) });
  }
  for (let i = 0; i < 5; i++) {
    batch.set(instances.doc(`other-${i}`), { pool: 'other', state: 'ready', readyAt: at(-10 - i), updatedAt: at(0) });
    batch.set(instances.doc(`booting-${i}`), { pool: POOL, state: 'booting', updatedAt: at(0) });
    batch.set(instances.doc(`nodate-${i}`), { pool: POOL, state: 'ready', updatedAt: at(0) }); // no readyAt: excluded by orderBy
  }
  await batch.commit();
}

const readyQuery = (instances: CollectionReference, limit: number) =>
  instances.where('pool', '==', POOL).where('state', '==', 'ready').orderBy('readyAt').limit(limit);

async function expectClaims(instances: CollectionReference, results: (string | null)[]): Promise<void> {
  const claimed = results.filter((r): r is string => r !== null);
  expect(claimed).toHaveLength(20);
  expect(new Set(claimed).size).toBe(20);
  expect(results.filter((r) => r === null)).toHaveLength(30);
  const all = await instances.get();
  const byId = new Map(all.docs.map((d) => [d.id, d.data()]));
  for (let i = 1; i <= 20; i++) expect(byId.get(`vm-${String(i).padStart(2, '0')}`)?.['state']).toBe('claimed');
  // Each document records exactly the claimer that was told it won it.
  for (const [index, id] of results.entries()) if (id !== null) expect(byId.get(id)?.['claimedBy']).toBe(`claimer-${index}`);
  for (const [id, data] of byId) if (!id.startsWith('vm-')) expect(data['state']).not.toBe('claimed');
}

// Concurrent: these tests mostly wait out the client's retry backoff (about 1 s, growing).
describe.concurrent('transactions are isolated (optimistic or pessimistic, the client retries ABORTED)', { timeout: 90_000 }, () => {
  it('50 concurrent claimers over 20 ready docs: query outside, re-read inside the transaction', async () => {
    const { instances } = scope();
    await seedPool(instances);
    const claim = async (claimer: string): Promise<string | null> => {
      for (;;) {
        const candidates = await readyQuery(instances, 5).get();
        if (candidates.empty) return null;
        for (const candidate of candidates.docs) {
          const won = await db.runTransaction(async (tx) => {
            const snap = await tx.get(candidate.ref);
            if (snap.get('state') !== 'ready') return false;
            tx.update(candidate.ref, { state: 'claimed', claimedBy: claimer, updatedAt: FieldValue.serverTimestamp() });
            return true;
          });
          if (won) return candidate.id;
        }
      }
    };
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => claim(`claimer-${i}`)));
    await expectClaims(instances, results);
  });

  it('50 concurrent claimers over 20 ready docs: the transaction runs the query itself', async () => {
    const { instances } = scope();
    await seedPool(instances);
    const claim = (claimer: string): Promise<string | null> =>
      db.runTransaction(async (tx) => {
        const ready = await tx.get(readyQuery(instances, 1));
        const doc = ready.docs[0];
        if (!doc) return null;
        tx.update(doc.ref, { state: 'claimed', claimedBy: claimer, updatedAt: FieldValue.serverTimestamp() });
        return doc.id;
      }, HOT_SPOT);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => claim(`claimer-${i}`)));
    await expectClaims(instances, results);
  });

  it('two transactions that read the same document and both write: one is aborted and retried', async () => {
    const { collection } = scope();
    const ref = collection('counters').doc('c');
    await ref.set({ n: 0, by: [] });
    let attempts = 0;
    let bothRead!: () => void;
    const barrier = new Promise<void>((resolve) => (bothRead = resolve));
    let reads = 0;
    const increment = (who: string) =>
      db.runTransaction(async (tx) => {
        attempts++;
        const snap = await tx.get(ref);
        if (++reads === 2) bothRead();
        if (reads <= 2) await barrier; // first attempts: both have read before either writes
        tx.update(ref, { n: snap.get('n') + 1, by: [...snap.get('by'), who] });
      });
    await Promise.all([increment('a'), increment('b')]);
    const final = (await ref.get()).data();
    expect(final?.['n']).toBe(2);
    expect([...(final?.['by'] ?? [])].sort()).toEqual(['a', 'b']);
    expect(attempts).toBeGreaterThanOrEqual(3);
  });

  it('a counter incremented by 30 concurrent transactions ends at 30', async () => {
    const { collection } = scope();
    const ref = collection('counters').doc('c');
    await ref.set({ n: 0 });
    await Promise.all(
      Array.from({ length: 30 }, () =>
        db.runTransaction(async (tx) => {
          const snap = await tx.get(ref);
          tx.update(ref, { n: snap.get('n') + 1 });
        }, HOT_SPOT),
      ),
    );
    expect((await ref.get()).get('n')).toBe(30);
  });

  it('a document read as missing and created concurrently: exactly one creator wins (idempotency key)', async () => {
    const { collection } = scope();
    const ref = collection('claims').doc('request-1');
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        db.runTransaction(async (tx) => {
          const snap = await tx.get(ref);
          if (snap.exists) return snap.get('owner') as string;
          tx.create(ref, { owner: `t${i}` });
          return `t${i}`;
        }),
      ),
    );
    const owner = (await ref.get()).get('owner');
    expect(results.every((r) => r === owner)).toBe(true);
  });

  it('a transaction that reads but does not write commits fine and returns what it read', async () => {
    const { collection } = scope();
    const ref = collection('things').doc('x');
    await ref.set({ v: 1 });
    expect(await db.runTransaction(async (tx) => (await tx.get(ref)).get('v'))).toBe(1);
  });

  it("a transaction's writes are atomic: one failing precondition writes nothing", async () => {
    const { collection } = scope();
    const a = collection('things').doc('a');
    const b = collection('things').doc('b');
    await a.set({ v: 1 });
    await b.set({ v: 1 });
    const code = await codeOf(
      db.runTransaction(async (tx) => {
        const snap = await tx.get(a);
        tx.update(a, { v: snap.get('v') + 1 });
        tx.create(b, { v: 2 }); // b exists
        tx.set(collection('things').doc('c'), { v: 3 });
      }),
    );
    expect(code).toBe(6);
    expect((await a.get()).get('v')).toBe(1);
    expect((await b.get()).get('v')).toBe(1);
    expect((await collection('things').doc('c').get()).exists).toBe(false);
  });

  it("a batch's writes are atomic too", async () => {
    const { collection } = scope();
    const a = collection('things').doc('a');
    await a.set({ v: 1 });
    const batch = db.batch();
    batch.update(a, { v: 2 });
    batch.update(collection('things').doc('missing'), { v: 2 });
    expect(await codeOf(batch.commit())).toBe(5);
    expect((await a.get()).get('v')).toBe(1);
  });
});

describe('preconditions', () => {
  it('create() on an existing document fails with ALREADY_EXISTS (6)', async () => {
    const ref = scope().instances.doc('vm-1');
    await ref.create({ state: 'creating' });
    expect(await codeOf(ref.create({ state: 'creating' }))).toBe(6);
    expect((await ref.get()).get('state')).toBe('creating');
  });

  it('update() on a missing document fails with NOT_FOUND (5) and creates nothing', async () => {
    const ref = scope().instances.doc('vm-1');
    expect(await codeOf(ref.update({ state: 'ready' }))).toBe(5);
    expect((await ref.get()).exists).toBe(false);
  });

  it('update() with lastUpdateTime fails with FAILED_PRECONDITION (9) after a concurrent change', async () => {
    const ref = scope().instances.doc('vm-1');
    await ref.set({ state: 'ready' });
    const seen = await ref.get();
    await ref.update({ state: 'claimed' });
    expect(await codeOf(ref.update({ state: 'draining' }, { lastUpdateTime: seen.updateTime! }))).toBe(9);
    expect((await ref.get()).get('state')).toBe('claimed');
    const current = await ref.get();
    await ref.update({ state: 'draining' }, { lastUpdateTime: current.updateTime! });
    expect((await ref.get()).get('state')).toBe('draining');
  });

  it('delete() with exists: true on a missing document fails with NOT_FOUND (5); plain delete() succeeds', async () => {
    const ref = scope().instances.doc('gone');
    expect(await codeOf(ref.delete({ exists: true }))).toBe(5);
    await ref.delete();
    expect((await ref.get()).exists).toBe(false);
  });
});

describe('writes', () => {
  it('set() without merge replaces the whole document', async () => {
    const ref = scope().instances.doc('vm-1');
    await ref.set({ a: 1, b: { c: 2 } });
    await ref.set({ d: 3 });
    expect((await ref.get()).data()).toEqual({ d: 3 });
  });

  it('set(..., {merge: true}) merges, nested maps included', async () => {
    const ref = scope().instances.doc('vm-1');
    await ref.set({ a: 1, b: { c: 2, d: 3 } });
    await ref.set({ b: { c: 20 }, e: 5 }, { merge: true });
    expect((await ref.get()).data()).toEqual({ a: 1, b: { c: 20, d: 3 }, e: 5 });
  });

  it('FieldValue.delete() removes the field (update and merge)', async () => {
    const ref = scope().instances.doc('vm-1');
    await ref.set({ a: 1, b: 2, c: 3, m: { x: 1, y: 2 } });
    await ref.update({ a: FieldValue.delete(), 'm.x': FieldValue.delete() });
    await ref.set({ b: FieldValue.delete() }, { merge: true });
    expect((await ref.get()).data()).toEqual({ c: 3, m: { y: 2 } });
  });

  it('update() replaces only the named fields, dotted paths reach into maps', async () => {
    const ref = scope().instances.doc('vm-1');
    await ref.set({ a: 1, m: { x: 1, y: 2 } });
    await ref.update({ 'm.x': 10, b: 2 });
    expect((await ref.get()).data()).toEqual({ a: 1, b: 2, m: { x: 10, y: 2 } });
  });

  it('serverTimestamp() and increment() in the same write both apply', async () => {
    const ref = scope().instances.doc('vm-1');
    await ref.set({ n: 1 });
    const result = await ref.update({ n: FieldValue.increment(2), at: FieldValue.serverTimestamp(), tags: FieldValue.arrayUnion('x') });
    const snap = await ref.get();
    expect(snap.get('n')).toBe(3);
    expect(snap.get('at')).toBeInstanceOf(Timestamp);
    expect((snap.get('at') as Timestamp).isEqual(result.writeTime)).toBe(true);
    expect(snap.get('tags')).toEqual(['x']);
  });

  it('documents carry createTime/updateTime; WriteResult.writeTime is the new updateTime', async () => {
    const ref = scope().instances.doc('vm-1');
    const created = await ref.create({ v: 1 });
    const first = await ref.get();
    expect(first.createTime!.isEqual(created.writeTime)).toBe(true);
    expect(first.updateTime!.isEqual(created.writeTime)).toBe(true);
    const updated = await ref.update({ v: 2 });
    const second = await ref.get();
    expect(second.createTime!.isEqual(first.createTime!)).toBe(true);
    expect(second.updateTime!.isEqual(updated.writeTime)).toBe(true);
    expect(second.updateTime!.toMillis() * 1000 + (second.updateTime!.nanoseconds % 1e6) / 1000).toBeGreaterThan(
      first.updateTime!.toMillis() * 1000 + (first.updateTime!.nanoseconds % 1e6) / 1000,
    );
    const q = await ref.parent.where('v', '==', 2).get();
    expect(q.docs[0]?.updateTime.isEqual(second.updateTime!)).toBe(true);
    expect(q.docs[0]?.createTime.isEqual(second.createTime!)).toBe(true);
  });
});

describe('the queries warmer uses', () => {
  it("pool == P, state == 'ready', orderBy readyAt, limit N: oldest first, docs lacking readyAt excluded", async () => {
    const { instances } = scope();
    await seedPool(instances);
    const snap = await readyQuery(instances, 3).get();
    expect(snap.docs.map((d) => d.id)).toEqual(['vm-01', 'vm-02', 'vm-03']);
    const all = await instances.where('pool', '==', POOL).where('state', '==', 'ready').orderBy('readyAt').get();
    expect(all.size).toBe(20);
    const desc = await instances.where('pool', '==', POOL).where('state', '==', 'ready').orderBy('readyAt', 'desc').limit(2).get();
    expect(desc.docs.map((d) => d.id)).toEqual(['vm-20', 'vm-19']);
  });

  it('orderBy excludes documents lacking the field', async () => {
    const { collection } = scope();
    const c = collection('things');
    await Promise.all([c.doc('a').set({ k: 2 }), c.doc('b').set({ other: 1 }), c.doc('c').set({ k: 1 }), c.doc('d').set({ k: null })]);
    expect((await c.orderBy('k').get()).docs.map((d) => d.id)).toEqual(['d', 'c', 'a']);
    expect((await c.get()).size).toBe(4);
  });

  it('state in [...] ', async () => {
    const { instances } = scope();
    await seedPool(instances);
    await instances.doc('vm-01').update({ state: 'claimed' });
    await instances.doc('vm-02').update({ state: 'draining' });
    const snap = await instances.where('pool', '==', POOL).where('state', 'in', ['claimed', 'draining', 'booting']).get();
    expect(snap.docs.map((d) => d.id).sort()).toEqual(['booting-0', 'booting-1', 'booting-2', 'booting-3', 'booting-4', 'vm-01', 'vm-02']);
  });

  it('count() with pool == P and state == S', async () => {
    const { instances } = scope();
    await seedPool(instances);
    const count = async (state: string) => (await instances.where('pool', '==', POOL).where('state', '==', state).count().get()).data().count;
    expect(await count('ready')).toBe(25);
    expect(await count('booting')).toBe(5);
    expect(await count('claimed')).toBe(0);
    expect((await instances.count().get()).data().count).toBe(35);
  });

  it('updatedAt < T (and the other range and != filters) on timestamps', async () => {
    const { instances } = scope();
    await Promise.all([1, 2, 3, 4].map((i) => instances.doc(`vm-${i}`).set({ pool: POOL, state: 'claimed', updatedAt: at(i * 10) })));
    await instances.doc('no-updated-at').set({ pool: POOL, state: 'claimed' });
    await instances.doc('numeric').set({ pool: POOL, state: 'claimed', updatedAt: 5 });
    const ids = async (q: Query) => (await q.get()).docs.map((d) => d.id);
    expect(await ids(instances.where('updatedAt', '<', at(30)))).toEqual(['vm-1', 'vm-2']);
    expect(await ids(instances.where('updatedAt', '<=', at(30)))).toEqual(['vm-1', 'vm-2', 'vm-3']);
    expect(await ids(instances.where('updatedAt', '>', at(30)))).toEqual(['vm-4']);
    expect(await ids(instances.where('updatedAt', '>=', at(30)))).toEqual(['vm-3', 'vm-4']);
    expect((await ids(instances.where('updatedAt', '!=', at(30)))).sort()).toEqual(['numeric', 'vm-1', 'vm-2', 'vm-4']);
    expect(await ids(instances.where('state', '==', 'claimed').where('updatedAt', '<', at(25)).limit(1))).toEqual(['vm-1']);
  });

  it('getAll() of several refs returns them in order, missing ones as not existing', async () => {
    const { instances } = scope();
    await instances.doc('a').set({ v: 1 });
    await instances.doc('c').set({ v: 3 });
    const snaps = await db.getAll(instances.doc('c'), instances.doc('b'), instances.doc('a'));
    expect(snaps.map((s) => [s.id, s.exists, s.get('v')])).toEqual([
      ['c', true, 3],
      ['b', false, undefined],
      ['a', true, 1],
    ]);
  });

  it('cursors and offset page through an ordered query', async () => {
    const { instances } = scope();
    await seedPool(instances);
    const first = await readyQuery(instances, 5).get();
    const last = first.docs[first.docs.length - 1]!;
    const next = await readyQuery(instances, 5).startAfter(last).get();
    expect(next.docs.map((d) => d.id)).toEqual(['vm-06', 'vm-07', 'vm-08', 'vm-09', 'vm-10']);
    const offset = await readyQuery(instances, 2).offset(18).get();
    expect(offset.docs.map((d) => d.id)).toEqual(['vm-19', 'vm-20']);
  });
});
