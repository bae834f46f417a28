import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FirestoreHistoryStore } from '../../../shared/adapters/firestore-history.js';
import { HISTORY_RETENTION_MS } from '../../../shared/history.js';
import { historyContract } from './contract.js';
import { startTestFirestore, type TestFirestore } from '../../support/firestore.js';

let firestore: TestFirestore;
beforeAll(async () => {
  firestore = await startTestFirestore();
});
afterAll(async () => firestore?.stop());

historyContract('FirestoreHistoryStore (embedded emulator)', () => new FirestoreHistoryStore(firestore.db, { prefix: firestore.prefix('h') }));

describe('FirestoreHistoryStore: stored shape', () => {
  it('writes auto-id documents in `events` with an expireAt TTL 7 days after the event', async () => {
    const prefix = firestore.prefix('shape');
    const h = new FirestoreHistoryStore(firestore.db, { prefix });
    const at = 1_700_000_000_000;
    await h.record({ type: 'teardown', pool: 'ci', at, instance: 'ci-1', reason: 'released' });
    await h.record({ type: 'teardown', pool: 'ci', at, instance: 'ci-2', reason: 'released' });
    const snaps = await firestore.db.collection(`${prefix}events`).get();
    expect(snaps.size).toBe(2);
    for (const s of snaps.docs) {
      const d = s.data();
      expect(d.expireAt.toMillis()).toBe(at + HISTORY_RETENTION_MS);
      expect(d).toMatchObject({ type: 'teardown', pool: 'ci', at, reason: 'released' });
    }
  });
});
