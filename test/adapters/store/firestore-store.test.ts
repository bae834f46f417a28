import { FirestoreAssignmentStore } from '../../../shared/adapters/firestore-instance-queries.js';
import { assignmentContract } from './assignment-contract.js';
import { afterAll, beforeAll } from 'vitest';
import { createFirestore } from '../../../shared/adapters/firestore-client.js';
import { FirestoreInstanceStore } from '../../../shared/adapters/firestore-instance-store.js';
import { FirestorePoolRuntimeStore } from '../../../shared/adapters/firestore-runtime-store.js';
import { FirestorePoolStore } from '../../../shared/adapters/firestore-pool-store.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../../local/firestore/emulator.js';
import type { Firestore } from '@google-cloud/firestore';
import { storeContract } from './contract.js';

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

storeContract('FirestoreStore (embedded emulator)', () => {
  const prefix = `t${++n}_`;
  return {
    instances: new FirestoreInstanceStore(db, { prefix }),
    pools: new FirestorePoolStore(db, { prefix }),
    runtime: new FirestorePoolRuntimeStore(db, { prefix }),
  };
});

assignmentContract('FirestoreStore (embedded emulator)', () => {
  const prefix = `a${++n}_`;
  return { instances: new FirestoreInstanceStore(db, { prefix }), assignments: new FirestoreAssignmentStore(db, { prefix }) };
});
