/**
 * The whole system on one machine, in one process, with no cloud and no credentials:
 * the embedded Firestore, Pub/Sub and Compute Engine emulators, the functions served by
 * functions-framework (the same handlers and adapters as in the cloud: only endpoints
 * differ), Pub/Sub push subscriptions delivering CloudEvents to the event functions, and
 * a scheduler publishing the reconcile tick. Used by `npm start`, the end-to-end tests
 * and the benchmarks.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { cloudEvent, http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Config } from '../shared/config.js';
import { createLogger, silentLogger, type Logger } from '../shared/logging.js';
import type { PoolSpecInput } from '../shared/domain/pool-spec.js';
import { ensureTopology } from '../shared/adapters/pubsub-publisher.js';
import { putPool } from '../shared/services/pools.js';
import type { ApiDeps } from '../shared/services/deps.js';
import { createApiHandler } from '../functions/http/api.js';
import { reconcileHandler, teardownHandler } from '../functions/events.js';
import type { BootWatch } from '../shared/services/refill.js';
import { buildApiDeps, buildWorkerDeps, createClients, type Clients, type WorkerDeps } from '../functions/compose.js';
import { startFirestoreEmulator, type FirestoreEmulator } from './firestore/emulator.js';
import { startPubSubEmulator, type PubSubEmulator } from './pubsub/emulator.js';
import { startComputeEmulator, type ComputeEmulator } from './compute/emulator.js';

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
  /** Publishes one scheduler tick (reconcile every pool). */
  tick(): Promise<void>;
  stop(): Promise<void>;
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
    const firestore = await startFirestoreEmulator({ host: '127.0.0.1', port: 0 });
    started.push(() => firestore.stop());
    const pubsub = await startPubSubEmulator({ host: '127.0.0.1', port: 0, logger: emuLogger });
    started.push(() => pubsub.stop());
    const compute = await startComputeEmulator({
      host: '127.0.0.1',
      port: 0,
      sshPort: opts.sshPort ?? 2222,
      preferPort22: opts.preferPort22 ?? false,
      addressBase: opts.addressBase,
      bootDelayMs: opts.bootDelayMs,
      bootJitterMs: opts.bootJitterMs,
      operationDelayMs: opts.operationDelayMs,
      logger: emuLogger,
    });
    started.push(() => compute.stop());

    const config: Config = {
      project: 'warmer-local',
      claimTokens: opts.claimTokens,
      adminTokens: opts.adminTokens,
      sshKeyPassphrase: opts.sshKeyPassphrase ?? 'warmer-local-passphrase',
      topics: { teardown: 'warmer-teardown', refill: 'warmer-refill', deadLetter: 'warmer-dead-letter' },
      maxBodyBytes: 64 * 1024,
      emptyRetryAfterSeconds: 2,
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
    });
    // In-flight event handlers are tracked so that stop() lets them finish (or cuts the
    // boot watch short) before closing the clients they use.
    const abort = new AbortController();
    const inflight = new Set<Promise<unknown>>();
    const track = <A extends unknown[]>(fn: (...args: A) => Promise<unknown>) => async (...args: A) => {
      const p = fn(...args);
      inflight.add(p);
      try {
        await p;
      } finally {
        inflight.delete(p);
      }
    };
    http(`api-${id}`, createApiHandler('all', settings, async () => api, () => logger));
    const bootWatch = { ...(opts.bootWatch ?? { budgetMs: 60_000, intervalMs: 250 }), signal: abort.signal };
    cloudEvent(`reconcile-${id}`, track(reconcileHandler(async () => worker, () => logger, bootWatch)));
    cloudEvent(`teardown-${id}`, track(teardownHandler(async () => worker, () => logger)));
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

    // A pool without its own health check port probes the port the machines answer on.
    for (const [name, spec] of Object.entries(opts.pools ?? {})) {
      await putPool(api, name, { ...spec, healthCheck: { ...spec.healthCheck, port: spec.healthCheck?.port ?? compute.sshPort } });
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
      apiUrl: `http://${host}:${apiPort}`,
      config,
      firestore,
      pubsub,
      compute,
      api,
      worker,
      clients,
      tick,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
