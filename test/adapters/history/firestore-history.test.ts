import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Firestore } from '@google-cloud/firestore';
import { createFirestore } from '../../../shared/adapters/firestore-client.js';
import { FirestoreHistoryStore } from '../../../shared/adapters/firestore-history.js';
import { HISTORY_RETENTION_MS } from '../../../shared/history.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../../local/firestore/emulator.js';
import { historyContract } from './contract.js';

let emulator: FirestoreEmulator;
let db: Firestore;
let n = 0;

beforeAll(async () => {
  emulator = await startFirestoreEmulator();
  db = createFirestore({ projectId: 'warmer-test', emulatorHost: emulator.hostPort });
});
afterAll(async () => {
  await db.terminate();
  await emulator.stop();
});

historyContract('FirestoreHistoryStore (embedded emulator)', () => new FirestoreHistoryStore(db, { prefix: `h${++n}_` }));

describe('FirestoreHistoryStore: stored shape', () => {
  it('writes auto-id documents in `events` with an expireAt TTL 7 days after the event', async () => {
    const prefix = `shape${++n}_`;
    const h = new FirestoreHistoryStore(db, { prefix });
    const at = 1_700_000_000_000;
    await h.record({ type: 'teardown', pool: 'ci', at, instance: 'ci-1', reason: 'released' });
    await h.record({ type: 'teardown', pool: 'ci', at, instance: 'ci-2', reason: 'released' });
    const snaps = await db.collection(`${prefix}events`).get();
    expect(snaps.size).toBe(2);
    for (const s of snaps.docs) {
      const d = s.data();
      expect(d.expireAt.toMillis()).toBe(at + HISTORY_RETENTION_MS);
      expect(d).toMatchObject({ type: 'teardown', pool: 'ci', at, reason: 'released' });
    }
  });
});
