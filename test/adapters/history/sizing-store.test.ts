import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FirestoreSizingStore } from '../../../shared/adapters/firestore-sizing-store.js';
import { FirestoreInstanceStore } from '../../../shared/adapters/firestore-instance-store.js';
import { FirestorePoolRuntimeStore } from '../../../shared/adapters/firestore-runtime-store.js';
import { MemorySizingStore } from '../../../shared/adapters/memory-sizing-store.js';
import { linkedMemoryStores } from '../../../shared/adapters/memory-store.js';
import { emptyHistory } from '../../../shared/domain/sizing.js';
import { sizingContract } from './sizing-contract.js';
import { startTestFirestore, type TestFirestore } from '../../support/firestore.js';

let firestore: TestFirestore;
beforeAll(async () => {
  firestore = await startTestFirestore();
});
afterAll(async () => firestore?.stop());

sizingContract('MemorySizingStore', () => {
  const linked = linkedMemoryStores();
  return { ...linked, sizing: new MemorySizingStore(linked.runtime, linked.instances) };
});

sizingContract('FirestoreSizingStore (embedded emulator)', () => {
  const prefix = firestore.prefix('sz');
  return {
    sizing: new FirestoreSizingStore(firestore.db, { prefix }),
    runtime: new FirestorePoolRuntimeStore(firestore.db, { prefix }),
    instances: new FirestoreInstanceStore(firestore.db, { prefix }),
  };
});

describe('FirestoreSizingStore: stored shape', () => {
  it('one document per pool in poolSizing, the history as JSON text; a history of another version reads as none', async () => {
    const prefix = firestore.prefix('szshape');
    const runtime = new FirestorePoolRuntimeStore(firestore.db, { prefix });
    const sizing = new FirestoreSizingStore(firestore.db, { prefix });
    const c = await runtime.claimPass({ pool: 'ci', holder: 'p', now: 1000, ttlMs: 60_000 });
    if (c.kind !== 'acquired') throw new Error('no lease');
    expect(
      await sizing.save(
        'ci',
        { history: emptyHistory(), foldedThrough: 500, decision: null },
        { pool: 'ci', holder: 'p', generation: c.lease.generation, now: 1000 },
      ),
    ).toBe(true);
    const snap = await firestore.db.collection(`${prefix}poolSizing`).doc('ci').get();
    expect(typeof snap.data()!.history).toBe('string');
    expect(snap.data()).toMatchObject({ foldedThrough: 500, decision: null, updatedAt: 1000 });
    await firestore.db
      .collection(`${prefix}poolSizing`)
      .doc('ci')
      .update({ history: JSON.stringify({ ...emptyHistory(), version: 99 }) });
    expect(await sizing.load('ci')).toBeNull();
  });
});
