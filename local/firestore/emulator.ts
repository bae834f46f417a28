/**
 * The embedded Firestore emulator: `@firestore-emulator/server`'s service, made faithful
 * where warmer depends on it (see service.ts), served on our own @grpc/grpc-js server
 * bound to the chosen host (the package's own start() binds 0.0.0.0 on a fixed port).
 *
 *   const emulator = await startFirestoreEmulator();          // 127.0.0.1, ephemeral port
 *   createFirestore({ projectId, emulatorHost: emulator.hostPort });
 */
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { FirestoreServiceV1Impl } from './proto.js';
import { FaithfulFirestoreService } from './service.js';
import { DocumentStore } from './store.js';

export interface FirestoreEmulator {
  host: string;
  port: number;
  /** "127.0.0.1:NNNN", the value for FIRESTORE_EMULATOR_HOST / createFirestore's emulatorHost. */
  hostPort: string;
  /**
   * Makes every Commit wait this long before it is checked and applied, as a slow or busy
   * backend would (0, the default, commits at once). For tests of timing under load.
   */
  setCommitLatency(ms: number): void;
  /** Wipes all documents (every project) and open transactions. */
  reset(): Promise<void>;
  /** The documents' storage, for snapshots (snapshot.ts) and their import. */
  store: DocumentStore;
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 2_000;

export interface FirestoreEmulatorOptions {
  host?: string;
  port?: number;
  /**
   * Called with the gRPC method name and request of every call (e.g. `Commit`), to record
   * what a client calls; `call` is the gRPC call (a streaming call's `write` carries each response).
   */
  onCall?: (method: string, request: unknown, call: unknown) => void;
}

export async function startFirestoreEmulator(opts: FirestoreEmulatorOptions = {}): Promise<FirestoreEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const store = new DocumentStore();
  const server = new Server();
  const knobs = { commitLatencyMs: 0 };
  const service = new FaithfulFirestoreService(store, knobs);
  const onCall = opts.onCall;
  const impl = !onCall
    ? service
    : Object.fromEntries(
        Object.keys(FirestoreServiceV1Impl.definition).map((name) => [
          name,
          (call: { request?: unknown }, ...rest: unknown[]) => {
            onCall(name, call.request, call);
            return (service as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!.call(service, call, ...rest);
          },
        ]),
      );
  server.addService(FirestoreServiceV1Impl.definition as unknown as ServiceDefinition, impl as unknown as UntypedServiceImplementation);
  const address = host.includes(':') ? `[${host}]` : host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${address}:${opts.port ?? 0}`, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  let stopped: Promise<void> | null = null;
  return {
    host,
    port,
    hostPort: `${address}:${port}`,
    setCommitLatency: (ms) => {
      knobs.commitLatencyMs = Math.max(0, ms);
    },
    reset: async () => store.reset(),
    store,
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        // Clients keep their channels open; don't wait on them for long.
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, STOP_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      })),
  };
}
