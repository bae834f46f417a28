/**
 * A local Compute Engine: the REST subset warmer uses, served over HTTP so the real
 * `@google-cloud/compute` client talks to it:
 *
 *   new InstancesClient({ apiEndpoint: '127.0.0.1', port, protocol: 'http', authClient })
 *
 * Its instances are real local machines (own loopback address, real SSH server). Faults
 * are injected through `control`, in process, or over HTTP as `POST /_control/<method>`
 * with `{"args":[...]}` (see `remoteComputeControl`).
 */
import { mkdirSync, mkdtempSync, rmSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net, { type AddressInfo } from 'node:net';
import type { Logger } from '../../shared/logging.js';
import { silentLogger } from '../../shared/logging.js';
import { ComputeApiError } from './api-error.js';
import { CONTROL_METHODS, type ComputeEmulatorControl, type QuotaLimits, type QuotaMetric } from './control.js';
import { ComputeWorld, makeHostKey } from './world.js';
import { encodeComputeSnapshot, type ComputeSnapshot } from './snapshot.js';
import type { NodeGroupConfig } from './node-groups.js';

export type { NodeGroupConfig } from './node-groups.js';

export type { ComputeEmulatorControl, LocalInstanceInfo, QuotaLimits, OperationErrorSpec, CreateLocalInstance, ComputeEmulatorStats } from './control.js';
export { remoteComputeControl } from './control.js';

export interface ComputeEmulatorOptions {
  /** Where the REST API listens. Default 127.0.0.1. */
  host?: string;
  /** Default 0: an ephemeral port. */
  port?: number;
  /** First loopback address handed to machines. Default 127.20.0.1. */
  addressBase?: string;
  /** The port every machine's SSH server answers on. Default 2222. */
  sshPort?: number;
  /** Answer on port 22 when this process may bind it (as root), else on `sshPort`. */
  preferPort22?: boolean;
  /** Time from RUNNING to SSH answering. Default 3000 ms, plus up to `bootJitterMs`. */
  bootDelayMs?: number;
  /** Default 1000 ms. */
  bootJitterMs?: number;
  /** Time an insert/delete operation takes to reach DONE. Default 300 ms. */
  operationDelayMs?: number;
  /** How long `operations/{op}/wait` waits before answering a not-yet-DONE operation (the real API: about 2 minutes). Default 30 s. */
  waitTimeoutMs?: number;
  /** Largest page a list returns (also the default when no maxResults is sent). Default 500. */
  pageSize?: number;
  /** Limits of every region without its own. Default: 5000 CPUS, 5000 INSTANCES, 5000 IN_USE_ADDRESSES. */
  defaultQuota?: QuotaLimits;
  /** Limits per region. */
  quotas?: Record<string, QuotaLimits>;
  /** Sole-tenant node groups: nodes of a node type (vCPUs, memory) that inserts with node affinity are placed on. */
  nodeGroups?: NodeGroupConfig[];
  /** Where machines' root directories are kept; a new temporary directory (removed at stop) when absent. */
  machinesDir?: string;
  /**
   * Keep the machines' roots in `machinesDir` when the emulator stops, so restored
   * machines boot with their disks as they were (the local stack's state). Default false.
   */
  keepDisks?: boolean;
  /** An SSH host private key (OpenSSH or PEM); a new ed25519 key when absent. */
  hostKey?: string;
  logger?: Logger;
  /** Called for every API request (method, URL), e.g. to see what the client sends. */
  onRequest?: (method: string, url: string) => void;
  /** Called with the API method of every routed request (e.g. `instances.insert`), to record what a client calls. */
  onApiCall?: (kind: string) => void;
}

export interface ComputeEmulator {
  host: string;
  port: number;
  /** What `GceCompute` takes as `endpoint`. */
  endpoint: { host: string; port: number };
  /** `http://host:port`, for `remoteComputeControl`. */
  url: string;
  control: ComputeEmulatorControl;
  /** The port every machine answers SSH on. */
  sshPort: number;
  /** Where the machines' root directories are kept. */
  machinesDir: string;
  /** The instances and host key, for the local stack's state (snapshot.ts). */
  snapshot(): ComputeSnapshot;
  /** Brings a snapshot's instances back, booted again (start with the snapshot's `hostKey`). */
  restore(snapshot: ComputeSnapshot): Promise<void>;
  /** Closes the API server, every machine's SSH server and every timer. */
  stop(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new ComputeApiError(413, 'payloadTooLarge', 'Request payload too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text.trim()) return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new ComputeApiError(400, 'parseError', 'Invalid JSON payload received.'));
      }
    });
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

type Route = {
  method: string;
  pattern: RegExp;
  kind: string;
  handle: (world: ComputeWorld, m: string[], query: URLSearchParams, req: http.IncomingMessage) => unknown;
};

const P = '^/compute/v1/projects/([^/]+)';
const SEG = '([^/]+)';

const ROUTES: Route[] = [
  {
    method: 'POST',
    pattern: new RegExp(`${P}/zones/${SEG}/instances$`),
    kind: 'instances.insert',
    handle: async (w, [p, z], q, req) => w.apiInsert(p!, z!, await readBody(req), q.get('requestId')),
  },
  { method: 'GET', pattern: new RegExp(`${P}/zones/${SEG}/instances$`), kind: 'instances.list', handle: (w, [p, z], q) => w.apiListZone(p!, z!, q) },
  { method: 'GET', pattern: new RegExp(`${P}/zones/${SEG}/instances/${SEG}$`), kind: 'instances.get', handle: (w, [p, z, n]) => w.apiGet(p!, z!, n!) },
  {
    method: 'DELETE',
    pattern: new RegExp(`${P}/zones/${SEG}/instances/${SEG}$`),
    kind: 'instances.delete',
    handle: (w, [p, z, n], q) => w.apiDelete(p!, z!, n!, q.get('requestId')),
  },
  {
    method: 'POST',
    pattern: new RegExp(`${P}/zones/${SEG}/instances/${SEG}/setLabels$`),
    kind: 'instances.setLabels',
    handle: async (w, [p, z, n], _q, req) => w.apiSetLabels(p!, z!, n!, await readBody(req)),
  },
  {
    method: 'POST',
    pattern: new RegExp(`${P}/zones/${SEG}/instances/${SEG}/setMetadata$`),
    kind: 'instances.setMetadata',
    handle: async (w, [p, z, n], _q, req) => w.apiSetMetadata(p!, z!, n!, await readBody(req)),
  },
  { method: 'GET', pattern: new RegExp(`${P}/aggregated/instances$`), kind: 'instances.aggregatedList', handle: (w, [p], q) => w.apiListAggregated(p!, q) },
  {
    method: 'GET',
    pattern: new RegExp(`${P}/zones/${SEG}/operations/${SEG}$`),
    kind: 'zoneOperations.get',
    handle: (w, [p, z, o]) => w.apiGetOperation(p!, z!, o!),
  },
  {
    method: 'POST',
    pattern: new RegExp(`${P}/zones/${SEG}/operations/${SEG}/wait$`),
    kind: 'zoneOperations.wait',
    handle: (w, [p, z, o]) => w.apiWaitOperation(p!, z!, o!),
  },
  { method: 'GET', pattern: new RegExp(`${P}/regions/${SEG}$`), kind: 'regions.get', handle: (w, [p, r]) => w.apiGetRegion(p!, r!) },
  {
    method: 'POST',
    pattern: new RegExp(`${P}/zones/${SEG}/nodeGroups/${SEG}/listNodes$`),
    kind: 'nodeGroups.listNodes',
    handle: (w, [p, z, g]) => w.apiListNodes(p!, z!, g!),
  },
  { method: 'GET', pattern: new RegExp(`${P}/zones/${SEG}/nodeTypes/${SEG}$`), kind: 'nodeTypes.get', handle: (w, [p, z, t]) => w.apiGetNodeType(p!, z!, t!) },
  {
    method: 'GET',
    pattern: new RegExp(`${P}/zones/${SEG}/machineTypes/${SEG}$`),
    kind: 'machineTypes.get',
    handle: (w, [p, z, t]) => w.apiGetMachineType(p!, z!, t!),
  },
];

const DEFAULT_QUOTA: Record<QuotaMetric, number | null> = { CPUS: 5000, INSTANCES: 5000, IN_USE_ADDRESSES: 5000 };

/** Whether a TCP port can be bound on this address (port 22 needs root, and no sshd on it). */
function mayBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

export async function startComputeEmulator(opts: ComputeEmulatorOptions = {}): Promise<ComputeEmulator> {
  const logger = opts.logger ?? silentLogger;
  const addressBase = opts.addressBase ?? '127.20.0.1';
  const sshPort = opts.preferPort22 && (await mayBind(addressBase, 22)) ? 22 : (opts.sshPort ?? 2222);
  const ownDir = opts.machinesDir ? null : mkdtempSync(path.join(tmpdir(), 'warmer-machines-'));
  const machinesDir = opts.machinesDir ?? ownDir!;
  mkdirSync(machinesDir, { recursive: true });
  const world = new ComputeWorld({
    machinesDir,
    keepDisks: Boolean(opts.keepDisks && opts.machinesDir),
    addressBase,
    sshPort,
    bootDelayMs: opts.bootDelayMs ?? 3000,
    bootJitterMs: opts.bootJitterMs ?? 1000,
    operationDelayMs: opts.operationDelayMs ?? 300,
    waitTimeoutMs: opts.waitTimeoutMs ?? 30_000,
    pageSize: Math.max(1, Math.min(opts.pageSize ?? 500, 500)),
    defaultQuota: { ...DEFAULT_QUOTA, ...opts.defaultQuota } as Record<QuotaMetric, number | null>,
    quotas: opts.quotas ?? {},
    nodeGroups: opts.nodeGroups ?? [],
    hostKey: makeHostKey(opts.hostKey),
    logger,
  });
  const controlMethods = new Set<string>(CONTROL_METHODS);

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const method = req.method ?? 'GET';
      try {
        if (url.pathname.startsWith('/_control/')) {
          const name = url.pathname.slice('/_control/'.length);
          if (method !== 'POST' || !controlMethods.has(name)) throw new ComputeApiError(404, 'notFound', `no control method ${name}`);
          const body = (await readBody(req)) as { args?: unknown[] } | undefined;
          const args: unknown[] = Array.isArray(body?.args) ? body.args.map((a) => (a === null ? undefined : a)) : [];
          // failInsertsOfImage(image, null) clears: keep that null.
          if (name === 'failInsertsOfImage' && Array.isArray(body?.args) && body.args[1] === null) args[1] = null;
          const fn = (world as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name]!;
          const result = await fn.apply(world, args);
          send(res, 200, { result: result ?? null });
          return;
        }
        opts.onRequest?.(method, req.url ?? '/');
        for (const route of ROUTES) {
          if (route.method !== method) continue;
          const m = route.pattern.exec(url.pathname);
          if (!m) continue;
          world.admit(`${method} ${route.kind}`);
          opts.onApiCall?.(route.kind);
          const params = m.slice(1).map((s) => decodeURIComponent(s));
          send(res, 200, await route.handle(world, params, url.searchParams, req));
          return;
        }
        throw new ComputeApiError(404, 'notFound', `The requested URL ${url.pathname} was not found on this server.`);
      } catch (err) {
        if (err instanceof ComputeApiError) {
          send(res, err.status, err.body());
        } else {
          logger.error('compute emulator: request failed', { method, url: req.url }, err);
          send(res, err instanceof Error && url.pathname.startsWith('/_control/') ? 400 : 500, {
            error: {
              code: 500,
              message: err instanceof Error ? err.message : String(err),
              errors: [{ reason: 'backendError', message: String(err), domain: 'global' }],
            },
          });
        }
      }
    })();
  });
  server.keepAliveTimeout = 5000;

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  logger.info('compute emulator listening', { host, port });

  let stopped: Promise<void> | null = null;
  return {
    host,
    port,
    endpoint: { host, port },
    url: `http://${host}:${port}`,
    control: world,
    sshPort,
    machinesDir,
    snapshot: () => encodeComputeSnapshot(world.exportHostKey(), world.exportInstances()),
    restore: async (snapshot) => {
      await world.restoreInstances(snapshot.instances);
      // Disks of machines the snapshot no longer has (deleted before the last save) go.
      const kept = new Set(world.machineRoots());
      for (const d of readdirSync(machinesDir)) if (!kept.has(d)) rmSync(path.join(machinesDir, d), { recursive: true, force: true });
    },
    stop: () =>
      (stopped ??= (async () => {
        await world.stop();
        if (ownDir) rmSync(ownDir, { recursive: true, force: true });
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
      })()),
  };
}
