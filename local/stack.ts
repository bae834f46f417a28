/**
 * The whole system on one machine, in one process, with no cloud and no credentials:
 * the embedded Firestore, Pub/Sub and Compute Engine emulators, the functions served by
 * functions-framework (the same handlers and adapters as in the cloud: only endpoints
 * differ), Pub/Sub push subscriptions delivering CloudEvents to the event functions, and
 * a scheduler publishing the reconcile tick. Used by `npm start`, the end-to-end tests
 * and the benchmarks.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { cloudEvent, http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Config } from '../shared/config.js';
import { createLogger, silentLogger, type Logger } from '../shared/logging.js';
import type { PoolSpecInput } from '../shared/domain/pool-spec.js';
import { ensureTopology } from '../shared/adapters/pubsub-topology.js';
import { putPool } from '../shared/services/pools.js';
import type { ApiDeps } from '../shared/services/deps.js';
import { createApiHandler } from '../functions/http/api.js';
import { reconcileHandler, teardownHandler } from '../functions/events.js';
import type { BootWatch } from '../shared/services/refill.js';
import { buildApiDeps, buildWorkerDeps, createClients, type Clients, type WorkerDeps } from '../functions/compose.js';
import { startFirestoreEmulator, type FirestoreEmulator } from './firestore/emulator.js';
import { startPubSubEmulator, type PubSubEmulator } from './pubsub/emulator.js';
import { startComputeEmulator, type ComputeEmulator, type NodeGroupConfig } from './compute/emulator.js';
import { loadState, StateWriter } from './state.js';

export interface LocalStackOptions {
  /** The HTTP API (claim + admin routes). Default 0 (ephemeral); `npm start` uses 8080. */
  port?: number;
  host?: string;
  claimTokens: string[];
  adminTokens: string[];
  pools?: Record<string, PoolSpecInput>;
  /** Local machines' boot delay and jitter. */
  bootDelayMs?: number;
  bootJitterMs?: number;
  /** Compute Engine operation latency. */
  operationDelayMs?: number;
  /** Sole-tenant node groups of the local Compute Engine (dedicated-node pools place machines there). */
  nodeGroups?: NodeGroupConfig[];
  /** The SSH port every local machine answers on. Default 2222. */
  sshPort?: number;
  /** Machines answer on port 22 when the process may bind it (root), else on `sshPort`. */
  preferPort22?: boolean;
  /** First loopback address for machines (each stack should use its own range). */
  addressBase?: string;
  /** The scheduler's period (Cloud Scheduler: 60 s). 0 disables it. */
  scheduleMs?: number;
  orphanGraceMs?: number;
  deletingStuckMs?: number;
  creatingStuckMs?: number;
  bootWatch?: BootWatch;
  /** Pub/Sub push retry backoff. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  sshKeyPassphrase?: string;
  /** Emulator ports (default 0: ephemeral). */
  firestorePort?: number;
  pubsubPort?: number;
  computePort?: number;
  /**
   * Where the state that survives a restart is kept (see state.ts); unset keeps nothing.
   * With state present, `pools` only seeds the pools that do not exist yet.
   */
  stateDir?: string;
  /** Ignore the state in `stateDir` and start empty (it is overwritten at the next save). */
  fresh?: boolean;
  /** How often the state is saved when it changed. Default 2000 ms. */
  stateIntervalMs?: number;
  logger?: Logger;
  /** Logs of the emulators themselves (noisy); silent by default. */
  emulatorLogger?: Logger;
}

export interface LocalStack {
  apiUrl: string;
  config: Config;
  firestore: FirestoreEmulator;
  pubsub: PubSubEmulator;
  compute: ComputeEmulator;
  api: ApiDeps;
  worker: WorkerDeps;
  clients: Clients;
  /** What came back from `stateDir` and what `pools` seeded; null without a state dir. */
  state: LocalStackState | null;
  /** Publishes one scheduler tick (reconcile every pool). */
  tick(): Promise<void>;
  /**
   * Delivery faults of the functions' Pub/Sub messages, for chaos tests: the next `n`
   * deliveries of a function are lost (acknowledged unhandled) or duplicated (handled twice at once).
   */
  deliveryFaults: { loseNext(fn: 'reconcile' | 'teardown', n: number): void; duplicateNext(fn: 'reconcile' | 'teardown', n: number): void };
  stop(): Promise<void>;
}

export interface LocalStackState {
  dir: string;
  /** Documents and machines loaded at start. */
  restoredDocuments: number;
  restoredMachines: number;
  /** Pools of `pools` created now, and those left as the state had them. */
  seededPools: string[];
  keptPools: string[];
  /** Writes the state now if it changed (also done on a timer and on stop). */
  save(): void;
}

let seq = 0;

async function serve(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export async function startLocalStack(opts: LocalStackOptions): Promise<LocalStack> {
  const logger = opts.logger ?? createLogger();
  const emuLogger = opts.emulatorLogger ?? silentLogger;
  const host = opts.host ?? '127.0.0.1';
  const started: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of started.reverse()) await stop().catch(() => {});
  };
  try {
    const loaded = opts.stateDir && !opts.fresh ? loadState(opts.stateDir) : { documents: [], compute: null };
    // With a state dir the machines' disks live there too and survive a restart, as a
    // VM's disk survives a reboot of its host; --fresh starts with none.
    const machinesDir = opts.stateDir ? join(opts.stateDir, 'machines') : undefined;
    if (machinesDir && opts.fresh) rmSync(machinesDir, { recursive: true, force: true });
    const firestore = await startFirestoreEmulator({ host: '127.0.0.1', port: opts.firestorePort ?? 0 });
    started.push(() => firestore.stop());
    firestore.store.importDocuments(loaded.documents);
    const pubsub = await startPubSubEmulator({ host: '127.0.0.1', port: opts.pubsubPort ?? 0, logger: emuLogger });
    started.push(() => pubsub.stop());
    const compute = await startComputeEmulator({
      host: '127.0.0.1',
      port: opts.computePort ?? 0,
      sshPort: opts.sshPort ?? 2222,
      preferPort22: opts.preferPort22 ?? false,
      addressBase: opts.addressBase,
      bootDelayMs: opts.bootDelayMs,
      bootJitterMs: opts.bootJitterMs,
      operationDelayMs: opts.operationDelayMs,
      nodeGroups: opts.nodeGroups ?? [],
      ...(machinesDir ? { machinesDir, keepDisks: true } : {}),
      ...(loaded.compute?.hostKey ? { hostKey: loaded.compute.hostKey } : {}),
      logger: emuLogger,
    });
    started.push(() => compute.stop());
    if (loaded.compute) await compute.restore(loaded.compute);

    // Saved on a timer and, on stop, after every handler has finished and before the
    // emulators stop (stop runs these hooks in reverse order).
    const writer = opts.stateDir
      ? new StateWriter(opts.stateDir, {
          firestoreChanges: () => firestore.store.changes,
          documents: () => firestore.store.exportDocuments(),
          compute: () => compute.snapshot(),
        })
      : null;
    let stateTimer: NodeJS.Timeout | null = null;
    if (writer) {
      started.push(async () => {
        if (stateTimer) clearInterval(stateTimer);
        try {
          writer.save();
        } catch (err) {
          logger.error('local state not saved', { dir: writer.dir }, err);
        }
      });
    }

    const config: Config = {
      project: 'warmer-local',
      claimTokens: opts.claimTokens,
      adminTokens: opts.adminTokens,
      sshKeyPassphrase: opts.sshKeyPassphrase ?? 'warmer-local-passphrase',
      topics: { teardown: 'warmer-teardown', refill: 'warmer-refill', deadLetter: 'warmer-dead-letter' },
      maxBodyBytes: 64 * 1024,
      emptyRetryAfterSeconds: 2,
      travisAnswerBudgetMs: 4000,
      logLevel: 'INFO',
      dryRun: false,
      firestoreEmulatorHost: firestore.hostPort,
      pubsubEmulatorHost: pubsub.hostPort,
      computeEmulatorHost: `${compute.endpoint.host}:${compute.endpoint.port}`,
      probeConcurrency: 64,
      createConcurrency: 10,
      orphanGraceSeconds: Math.ceil((opts.orphanGraceMs ?? 60_000) / 1000),
      leaseSeconds: 60,
      poolConcurrency: 16,
      // Probe rounds fill most of the gap between local ticks, as the cloud's 50 s of 60.
      probeRoundBudgetSeconds: Math.floor(((opts.scheduleMs ?? 0) * 0.8) / 1000),
    };
    const clients = createClients(config, logger);
    started.push(async () => {
      await clients.publisher.flush().catch(() => {});
      await clients.pubsub.close().catch(() => {});
      await api.instances.drain?.().catch(() => {});
      await clients.firestore.terminate().catch(() => {});
    });
    const api = buildApiDeps(clients, logger);
    const worker = await buildWorkerDeps(config, clients, logger, {
      orphanGraceMs: opts.orphanGraceMs ?? 60_000,
      deletingStuckMs: opts.deletingStuckMs ?? 30_000,
      creatingStuckMs: opts.creatingStuckMs ?? 30_000,
      leaseMs: 60_000,
      coldZoneMs: 60_000,
      probeRoundBudgetMs: Math.floor((opts.scheduleMs ?? 0) * 0.8),
    });

    // The functions, each behind its own functions-framework server, as in the cloud.
    const id = `${process.pid}-${++seq}`;
    const settings = () => ({
      claimTokens: config.claimTokens,
      adminTokens: config.adminTokens,
      project: config.project,
      maxBodyBytes: config.maxBodyBytes,
      retryAfterSeconds: config.emptyRetryAfterSeconds,
      travisAnswerBudgetMs: config.travisAnswerBudgetMs,
    });
    // In-flight event handlers are tracked so that stop() lets them finish (or cuts the
    // boot watch short) before closing the clients they use.
    const abort = new AbortController();
    const inflight = new Set<Promise<unknown>>();
    const faults = { lose: { reconcile: 0, teardown: 0 }, duplicate: { reconcile: 0, teardown: 0 } };
    const track =
      <A extends unknown[]>(fn: (...args: A) => Promise<unknown>, name: 'reconcile' | 'teardown') =>
      async (...args: A) => {
        if (faults.lose[name] > 0) {
          faults.lose[name]--;
          return;
        }
        if (faults.duplicate[name] > 0) {
          faults.duplicate[name]--;
          const twin = fn(...args).catch(() => {});
          inflight.add(twin);
          void twin.finally(() => inflight.delete(twin));
        }
        const p = fn(...args);
        inflight.add(p);
        try {
          await p;
        } finally {
          inflight.delete(p);
        }
      };
    http(
      `api-${id}`,
      createApiHandler(
        'all',
        settings,
        async () => api,
        () => logger,
      ),
    );
    const bootWatch = { ...(opts.bootWatch ?? { budgetMs: 60_000, intervalMs: 250 }), signal: abort.signal };
    cloudEvent(
      `reconcile-${id}`,
      track(
        reconcileHandler(
          async () => worker,
          () => logger,
          bootWatch,
        ),
        'reconcile',
      ),
    );
    cloudEvent(
      `teardown-${id}`,
      track(
        teardownHandler(
          async () => worker,
          () => logger,
        ),
        'teardown',
      ),
    );
    const apiServer = getTestServer(`api-${id}`);
    const reconcileServer = getTestServer(`reconcile-${id}`);
    const teardownServer = getTestServer(`teardown-${id}`);
    const apiPort = await serve(apiServer, host, opts.port ?? 0);
    started.push(() => close(apiServer));
    const reconcilePort = await serve(reconcileServer, '127.0.0.1', 0);
    started.push(() => close(reconcileServer));
    const teardownPort = await serve(teardownServer, '127.0.0.1', 0);
    started.push(() => close(teardownServer));
    started.push(async () => {
      // First no new deliveries (the Pub/Sub emulator stops pushing), then let the
      // handlers in flight finish, with the boot watch cut short.
      await pubsub.stop().catch(() => {});
      abort.abort();
      const deadline = Date.now() + 5_000;
      while (inflight.size > 0 && Date.now() < deadline) await Promise.race([...inflight, new Promise((r) => setTimeout(r, 50))]).catch(() => {});
    });

    await ensureTopology(clients.pubsub, {
      teardownTopic: config.topics.teardown,
      refillTopic: config.topics.refill,
      deadLetterTopic: config.topics.deadLetter,
      teardownEndpoint: `http://127.0.0.1:${teardownPort}/`,
      refillEndpoint: `http://127.0.0.1:${reconcilePort}/`,
      pushBase: `http://127.0.0.1:${reconcilePort}`,
      minBackoffMs: opts.minBackoffMs ?? 200,
      maxBackoffMs: opts.maxBackoffMs ?? 5_000,
      maxDeliveryAttempts: 10,
      ackDeadlineSeconds: 120,
    });

    // The pools file seeds pools that do not exist yet; a pool that came back with the
    // state (perhaps changed through the API) is left as it is.
    const seededPools: string[] = [];
    const keptPools: string[] = [];
    for (const [name, spec] of Object.entries(opts.pools ?? {})) {
      if (loaded.documents.length > 0 && (await api.pools.getPool(name))) {
        keptPools.push(name);
        continue;
      }
      // A pool without its own health check port probes the port the machines answer on.
      await putPool(api, name, { ...spec, healthCheck: { ...spec.healthCheck, port: spec.healthCheck?.port ?? compute.sshPort } });
      seededPools.push(name);
    }
    let state: LocalStackState | null = null;
    if (writer) {
      const save = () => {
        try {
          writer.save();
        } catch (err) {
          logger.error('local state not saved', { dir: writer.dir }, err);
        }
      };
      save();
      stateTimer = setInterval(save, opts.stateIntervalMs ?? 2_000);
      stateTimer.unref();
      state = {
        dir: writer.dir,
        restoredDocuments: loaded.documents.length,
        restoredMachines: loaded.compute?.instances.length ?? 0,
        seededPools,
        keptPools,
        save: () => writer.save(),
      };
    }

    const tick = async () => {
      await clients.publisher.publishRefill({ pool: '*', reason: 'schedule' });
    };
    if (opts.scheduleMs && opts.scheduleMs > 0) {
      const timer = setInterval(() => {
        tick().catch((err) => logger.warn('scheduler tick not published', {}, err));
      }, opts.scheduleMs);
      timer.unref();
      started.push(async () => clearInterval(timer));
    }

    return {
      deliveryFaults: {
        loseNext: (fn, n) => void (faults.lose[fn] += n),
        duplicateNext: (fn, n) => void (faults.duplicate[fn] += n),
      },
      apiUrl: `http://${host}:${apiPort}`,
      config,
      firestore,
      pubsub,
      compute,
      api,
      worker,
      clients,
      state,
      tick,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
