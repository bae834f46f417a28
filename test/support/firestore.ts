/**
 * An embedded Firestore emulator and a client on it, for the adapter tests of one file.
 * Stores of one file share the database and keep apart by collection prefix (`prefix`).
 */
import type { Firestore } from '@google-cloud/firestore';
import { createFirestore } from '../../shared/adapters/firestore-client.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../local/firestore/emulator.js';

export interface TestFirestore {
  emulator: FirestoreEmulator;
  db: Firestore;
  /** A collection prefix no other store of this file uses: `${tag}${n}_`. */
  prefix(tag: string): string;
  /** Closes the client, then stops the emulator. */
  stop(): Promise<void>;
}

export async function startTestFirestore(projectId = 'warmer-test'): Promise<TestFirestore> {
  const emulator = await startFirestoreEmulator();
  const db = createFirestore({ projectId, emulatorHost: emulator.hostPort });
  let n = 0;
  return {
    emulator,
    db,
    prefix: (tag) => `${tag}${++n}_`,
    async stop() {
      await db.terminate();
      await emulator.stop();
    },
  };
}
