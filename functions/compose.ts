/**
 * Builds the dependencies of each function from a configuration: the one place where
 * adapters are chosen. The deployed functions (functions/deps.ts) and the local stack
 * (local/stack.ts) both use it, so the local stack runs the production code path with
 * only the endpoints changed.
 */
import { PubSub } from '@google-cloud/pubsub';
import type { Firestore } from '@google-cloud/firestore';
import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logging.js';
import { createFirestore } from '../shared/adapters/firestore-client.js';
import { FirestoreInstanceStore } from '../shared/adapters/firestore-instance-store.js';
import { FirestoreAssignmentStore } from '../shared/adapters/firestore-instance-queries.js';
import { TcpProber } from '../shared/adapters/tcp-prober.js';
import { FirestorePoolRuntimeStore } from '../shared/adapters/firestore-runtime-store.js';
import { CachingPoolStore, POOL_CACHE_MS, POOL_STALE_MS } from '../shared/adapters/caching-pool-store.js';
import { FirestorePoolStore } from '../shared/adapters/firestore-pool-store.js';
import { FirestoreHistoryStore } from '../shared/adapters/firestore-history.js';
import { FirestoreSizingStore } from '../shared/adapters/firestore-sizing-store.js';
import { PubSubPublisher } from '../shared/adapters/pubsub-publisher.js';
import { systemClock } from '../shared/adapters/system-clock.js';
import { assertCredentials, warmFirestore, warmFirestoreCodecs, warmPubSub } from '../shared/adapters/client-warm-up.js';
import type { ApiDeps } from '../shared/services/deps.js';
import type { ReconcileDeps } from '../shared/services/reconcile.js';
import type { TeardownDeps } from '../shared/services/teardown.js';

export interface Clients {
  firestore: Firestore;
  pubsub: PubSub;
  publisher: PubSubPublisher;
}

export function createClients(c: Config, logger: Logger): Clients {
  const firestore = createFirestore({ projectId: c.project, emulatorHost: c.firestoreEmulatorHost });
  const pubsub = c.pubsubEmulatorHost
    ? new PubSub({ projectId: c.project, apiEndpoint: c.pubsubEmulatorHost, emulatorMode: true })
    : new PubSub({ projectId: c.project });
  const publisher = new PubSubPublisher({ pubsub, teardownTopic: c.topics.teardown, refillTopic: c.topics.refill, logger });
  return { firestore, pubsub, publisher };
}

/**
 * Makes the claim path's first calls ahead of its first claim (client-warm-up.ts: the
 * claim's query, transaction and publisher, nothing written), Firestore's and Pub/Sub's
 * side by side; outside the emulators only once credentials are found.
 */
export async function warmClients(clients: Clients, c: Config): Promise<void> {
  if (!c.firestoreEmulatorHost || !c.pubsubEmulatorHost) await assertCredentials();
  await Promise.all([
    warmFirestore(clients.firestore, 'instances').then(() => warmFirestoreCodecs(clients.firestore, 'instances')),
    warmPubSub(clients.pubsub),
  ]);
}

/** At most this many pools have their candidates read by the warm-up (one query each). */
const WARM_UP_CANDIDATE_POOLS = 8;

/**
 * Reads the pools into the claim path's cache (CachingPoolStore.prime: one read per
 * pool), and starts the candidate read of the first few enabled ones (one query each,
 * kept for the claims of the next second), after warmClients: the request that started
 * the instance waits for its port, so it comes at once and finds both cached.
 */
export async function warmApiDeps(deps: ApiDeps): Promise<void> {
  if (!(deps.claimPools instanceof CachingPoolStore)) return;
  const pools = await deps.claimPools.prime();
  for (const pool of pools.filter((p) => p.spec.enabled).slice(0, WARM_UP_CANDIDATE_POOLS)) deps.instances.prefetchCandidates?.(pool.name);
}

export function buildApiDeps(clients: Clients, logger: Logger): ApiDeps {
  // Claims read pool specs through a 2 s cache; the admin API reads them fresh and
  // writes through the cache, so its own process sees a change at once. Past the 2 s a
  // claim may still start from the cached spec while it is read again: the Firestore
  // claim's transaction verifies it (ClaimRequest.poolVersion).
  const pools = new CachingPoolStore(new FirestorePoolStore(clients.firestore), systemClock, POOL_CACHE_MS, { staleMs: POOL_STALE_MS });
  return {
    pools: pools.fresh,
    claimPools: pools,
    instances: new FirestoreInstanceStore(clients.firestore),
    assignments: new FirestoreAssignmentStore(clients.firestore),
    publisher: clients.publisher,
    clock: systemClock,
    logger,
    history: new FirestoreHistoryStore(clients.firestore),
    sizing: new FirestoreSizingStore(clients.firestore),
    // The claim-time check of pools that enable it (claimCheck): a TCP connect and the
    // SSH banner, nothing heavier, so the claim path stays free of the Compute client.
    prober: new TcpProber(),
  };
}

export type WorkerDeps = ReconcileDeps & TeardownDeps;

/** Imports the Compute Engine client only here: the claim path never loads it. */
export async function buildWorkerDeps(c: Config, clients: Clients, logger: Logger, overrides: Partial<ReconcileDeps['settings']> = {}): Promise<WorkerDeps> {
  const [{ GceCompute }, { TcpProber }, { DEFAULT_SETTINGS }] = await Promise.all([
    import('../shared/adapters/gce-compute.js'),
    import('../shared/adapters/tcp-prober.js'),
    import('../shared/services/reconcile.js'),
  ]);
  const endpoint = c.computeEmulatorHost
    ? {
        host: c.computeEmulatorHost.slice(0, c.computeEmulatorHost.lastIndexOf(':')),
        port: Number(c.computeEmulatorHost.slice(c.computeEmulatorHost.lastIndexOf(':') + 1)),
      }
    : null;
  return {
    pools: new FirestorePoolStore(clients.firestore),
    instances: new FirestoreInstanceStore(clients.firestore),
    runtime: new FirestorePoolRuntimeStore(clients.firestore),
    assignments: new FirestoreAssignmentStore(clients.firestore),
    compute: new GceCompute({ project: c.project, endpoint }),
    prober: new TcpProber(),
    publisher: clients.publisher,
    clock: systemClock,
    logger,
    history: new FirestoreHistoryStore(clients.firestore),
    sizing: new FirestoreSizingStore(clients.firestore),
    settings: {
      ...DEFAULT_SETTINGS,
      orphanGraceMs: c.orphanGraceSeconds * 1000,
      leaseMs: c.leaseSeconds * 1000,
      probeConcurrency: c.probeConcurrency,
      createConcurrency: c.createConcurrency,
      poolConcurrency: c.poolConcurrency,
      probeRoundBudgetMs: c.probeRoundBudgetSeconds * 1000,
      sshKeyPassphrase: c.sshKeyPassphrase,
      dryRun: c.dryRun,
      ...overrides,
    },
  };
}
