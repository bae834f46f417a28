/**
 * The one place that builds a Firestore client (all client options live here).
 *
 * With `emulatorHost` ("127.0.0.1:8080") the client talks plaintext gRPC to an emulator
 * (the embedded one from local/firestore or Google's) with the emulator's owner token and
 * never looks for credentials; without it, a production client with Application Default
 * Credentials. gRPC always (`preferRest: false`): transactions and streaming reads need it.
 */
import { Firestore } from '@google-cloud/firestore';

export interface FirestoreClientOptions {
  projectId: string;
  emulatorHost?: string | null;
}

export function createFirestore(opts: FirestoreClientOptions): Firestore {
  if (opts.emulatorHost) {
    const { hostname, port } = new URL(`http://${opts.emulatorHost}`);
    if (!port) throw new Error(`Firestore emulator host must be host:port, got "${opts.emulatorHost}"`);
    return new Firestore({
      projectId: opts.projectId,
      host: hostname,
      port: Number(port),
      ssl: false,
      customHeaders: { Authorization: 'Bearer owner' },
      preferRest: false,
      ignoreUndefinedProperties: false,
    });
  }
  return new Firestore({ projectId: opts.projectId, preferRest: false, ignoreUndefinedProperties: false });
}

export interface FirestoreStoreOptions {
  /** Collection name prefix, so tests can share one emulator. */
  prefix?: string;
}
