import { FirestoreAssignmentStore } from '../../../shared/adapters/firestore-instance-queries.js';
import { assignmentContract } from './assignment-contract.js';
import { afterAll, beforeAll } from 'vitest';
import { FirestoreInstanceStore } from '../../../shared/adapters/firestore-instance-store.js';
import { FirestorePoolRuntimeStore } from '../../../shared/adapters/firestore-runtime-store.js';
import { FirestorePoolStore } from '../../../shared/adapters/firestore-pool-store.js';
import { storeContract } from './contract.js';
import { startTestFirestore, type TestFirestore } from '../../support/firestore.js';

let firestore: TestFirestore;
beforeAll(async () => {
  firestore = await startTestFirestore();
});
afterAll(async () => firestore?.stop());

storeContract('FirestoreStore (embedded emulator)', () => {
  const prefix = firestore.prefix('t');
  return {
    instances: new FirestoreInstanceStore(firestore.db, { prefix }),
    pools: new FirestorePoolStore(firestore.db, { prefix }),
    runtime: new FirestorePoolRuntimeStore(firestore.db, { prefix }),
  };
});

assignmentContract('FirestoreStore (embedded emulator)', () => {
  const prefix = firestore.prefix('a');
  return { instances: new FirestoreInstanceStore(firestore.db, { prefix }), assignments: new FirestoreAssignmentStore(firestore.db, { prefix }) };
});
