/**
 * Compute Engine over `@google-cloud/compute` (REST). The only file that knows the SDK's
 * shapes: it builds the instance resource from a pool spec, waits for zone operations,
 * and translates every failure into a `WarmerError` by kind (see `classifyComputeError`).
 *
 * With `endpoint` it talks to the local emulator (`local/compute`) over plain HTTP with
 * no credentials; without, to the real API with Application Default Credentials.
 */
import compute from '@google-cloud/compute';
import type { protos } from '@google-cloud/compute';
import { PassThroughClient } from 'google-auth-library';
import { WarmerError, type ErrorCode } from '../errors.js';
import { lastSegment, effectiveMaxRunDurationSeconds } from '../domain/pool-spec.js';
import type { Compute } from '../ports.js';
import type { CreateMachineRequest, Machine, MachineStatus, QuotaHeadroom } from '../domain/machine.js';

type IInstance = protos.google.cloud.compute.v1.IInstance;
type IOperation = protos.google.cloud.compute.v1.IOperation;

export interface GceComputeOptions {
  project: string;
  /** The local emulator; null or absent for the real API. */
  endpoint?: { host: string; port: number } | null;
  /** Longest wait for one insert/delete operation before giving up with `transient`. Default 10 minutes. */
  operationTimeoutMs?: number;
  /** Attempts of setLabels when the label fingerprint keeps moving. Default 5. */
  setLabelsAttempts?: number;
  /** maxResults of list pages. Default 500 (the API's maximum). */
  listPageSize?: number;
}

// ───────────────────────────── error classification ─────────────────────────────

/** What can be read off a failed call or a failed operation. */
export interface ComputeErrorFacts {
  /** HTTP status of the failed call (absent for a failed operation or a network error). */
  httpStatus?: number | null;
  /** `error.errors[].reason` of the HTTP error body (quotaExceeded, rateLimitExceeded, notFound …). */
  reasons?: readonly string[];
  /** `operation.error.errors[].code` of a DONE operation (QUOTA_EXCEEDED, ZONE_RESOURCE_POOL_EXHAUSTED …). */
  operationCodes?: readonly string[];
  /** A Node network error code (ECONNREFUSED, ECONNRESET, ETIMEDOUT …). */
  networkCode?: string | null;
  /** A gRPC status code from google-gax (4 DEADLINE_EXCEEDED, 14 UNAVAILABLE …). */
  grpcCode?: number | null;
}

const STOCKOUT = new Set(['ZONE_RESOURCE_POOL_EXHAUSTED', 'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS', 'insufficientCapacity']);
const QUOTA = new Set(['QUOTA_EXCEEDED', 'quotaExceeded']);
const RATE = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'RATE_LIMIT_EXCEEDED']);
const EXISTS = new Set(['alreadyExists', 'RESOURCE_ALREADY_EXISTS']);
const NOT_FOUND = new Set(['notFound']);
const TRANSIENT_GRPC = new Set([4, 10, 13, 14]); // DEADLINE_EXCEEDED, ABORTED, INTERNAL, UNAVAILABLE

/**
 * The kind of a Compute Engine failure. Pure: decided by status, reasons and operation
 * codes, never by message text. A failed operation with no known code is
 * `operation_failed`; an HTTP 404 is `not_found` (an operation that failed on a missing
 * image is an `operation_failed`, not a missing machine).
 */
export function classifyComputeError(f: ComputeErrorFacts): ErrorCode {
  const codes = [...(f.operationCodes ?? []), ...(f.reasons ?? [])];
  const has = (set: ReadonlySet<string>) => codes.some((c) => set.has(c));
  const status = f.httpStatus ?? null;
  if (has(STOCKOUT)) return 'zone_stockout';
  if (has(QUOTA)) return 'quota_exceeded';
  if (has(RATE) || status === 429 || f.grpcCode === 8) return 'rate_limited';
  if (has(EXISTS) || status === 409) return 'already_exists';
  if ((f.operationCodes ?? []).length > 0) return 'operation_failed';
  if (status === 404 || has(NOT_FOUND)) return 'not_found';
  if (status === 401 || status === 403 || f.grpcCode === 7 || f.grpcCode === 16) return 'permission_denied';
  if (status !== null && (status >= 500 || status === 408 || status === 412)) return 'transient';
  if (f.networkCode) return 'transient';
  if (f.grpcCode !== null && f.grpcCode !== undefined && TRANSIENT_GRPC.has(f.grpcCode)) return 'transient';
  return 'operation_failed';
}

interface ErrorBody {
  error?: { code?: number; message?: string; errors?: Array<{ reason?: string; message?: string }> };
}

function parseBody(data: unknown): ErrorBody | null {
  if (typeof data === 'string') {
    try {
      return JSON.parse(data) as ErrorBody;
    } catch {
      return null;
    }
  }
  return data && typeof data === 'object' ? (data as ErrorBody) : null;
}

/** Reads the facts off whatever the client threw (GaxiosError, GoogleError, a network error). */
export function factsOfError(err: unknown): ComputeErrorFacts & { message: string } {
  const e = (err ?? {}) as {
    code?: unknown;
    status?: unknown;
    message?: unknown;
    response?: { status?: unknown; data?: unknown };
    cause?: { code?: unknown };
  };
  const rawMessage = typeof e.message === 'string' ? e.message : String(err);
  const body = parseBody(e.response?.data) ?? parseBody(rawMessage);
  const httpStatus =
    typeof e.response?.status === 'number'
      ? e.response.status
      : typeof e.status === 'number' && e.status >= 100
        ? e.status
        : typeof e.code === 'number' && e.code >= 100
          ? e.code
          : typeof body?.error?.code === 'number'
            ? body.error.code
            : null;
  const grpcCode = typeof e.code === 'number' && e.code < 100 ? e.code : null;
  const networkCode =
    typeof e.code === 'string' && /^E[A-Z]+/.test(e.code) ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : null;
  const reasons = (body?.error?.errors ?? []).map((x) => x.reason).filter((r): r is string => typeof r === 'string');
  return { httpStatus, grpcCode, networkCode, reasons, message: body?.error?.message ?? rawMessage };
}

/** Translates a thrown client error into a `WarmerError`. */
export function toWarmerError(err: unknown, context: string): WarmerError {
  if (err instanceof WarmerError) return err;
  const facts = factsOfError(err);
  const code = classifyComputeError(facts);
  return new WarmerError(code, `${context}: ${facts.message}`, {
    cause: err,
    details: { httpStatus: facts.httpStatus, reasons: facts.reasons, networkCode: facts.networkCode, grpcCode: facts.grpcCode },
  });
}

/** Translates a DONE operation that carries an error into a `WarmerError`. */
export function operationToWarmerError(op: IOperation, context: string): WarmerError {
  const errors = op.error?.errors ?? [];
  const operationCodes = errors.map((e) => e.code).filter((c): c is string => typeof c === 'string' && c !== '');
  const code = classifyComputeError({ operationCodes: operationCodes.length ? operationCodes : ['UNKNOWN'] });
  const message = errors.map((e) => e.message).filter(Boolean).join('; ') || op.httpErrorMessage || 'operation failed';
  return new WarmerError(code, `${context}: ${message}`, {
    details: { operation: op.name, operationCodes, httpErrorStatusCode: op.httpErrorStatusCode ?? null },
  });
}

function isFingerprintConflict(err: unknown): boolean {
  const f = factsOfError(err);
  if (f.reasons?.includes('conditionNotMet') || f.httpStatus === 412) return true;
  return f.httpStatus === 400 && /fingerprint/i.test(f.message);
}

// ───────────────────────────── resource shapes ─────────────────────────────

const MACHINE_STATUSES: ReadonlySet<string> = new Set<MachineStatus>([
  'PROVISIONING',
  'STAGING',
  'RUNNING',
  'STOPPING',
  'STOPPED',
  'SUSPENDING',
  'SUSPENDED',
  'REPAIRING',
  'TERMINATED',
]);

/** The instance resource warmer inserts for a request (exported for tests). */
export function instanceResource(req: CreateMachineRequest): IInstance {
  const { spec, zone } = req;
  const sshKeys = [...spec.sshAdminKeys, ...(req.extraSshKeys ?? [])];
  const metadata: Array<{ key: string; value: string }> = [];
  if (sshKeys.length) metadata.push({ key: 'ssh-keys', value: sshKeys.join('\n') });
  if (spec.startupScript !== null) metadata.push({ key: 'startup-script', value: spec.startupScript });
  const nic: protos.google.cloud.compute.v1.INetworkInterface = {};
  if (spec.network !== null) nic.network = spec.network;
  if (spec.subnetwork !== null) nic.subnetwork = spec.subnetwork;
  if (spec.network === null && spec.subnetwork === null) nic.network = 'global/networks/default';
  if (spec.publicIp) nic.accessConfigs = [{ type: 'ONE_TO_ONE_NAT', name: 'External NAT' }];
  const resource: IInstance = {
    name: req.name,
    description: `warmer pool ${req.pool}`,
    machineType: `zones/${zone}/machineTypes/${lastSegment(spec.machineType)}`,
    labels: { ...spec.labels, 'warmer-pool': req.pool, 'warmer-managed': 'true', warmth: 'warmed' },
    disks: [{ boot: true, autoDelete: true, type: 'PERSISTENT', initializeParams: { sourceImage: spec.image } }],
    networkInterfaces: [nic],
    metadata: { items: metadata },
  };
  if (spec.networkTags.length) resource.tags = { items: [...spec.networkTags] };
  if (spec.serviceAccount) resource.serviceAccounts = [{ email: spec.serviceAccount.email, scopes: [...spec.serviceAccount.scopes] }];
  const maxRun = effectiveMaxRunDurationSeconds(spec);
  if (maxRun !== null) {
    resource.scheduling = { maxRunDuration: { seconds: maxRun }, instanceTerminationAction: 'DELETE' };
  }
  return resource;
}

export function toMachine(instance: IInstance): Machine {
  const nic = instance.networkInterfaces?.[0];
  const status = String(instance.status ?? 'PROVISIONING');
  const created = instance.creationTimestamp ? Date.parse(instance.creationTimestamp) : NaN;
  return {
    name: instance.name ?? '',
    zone: lastSegment(instance.zone ?? ''),
    status: (MACHINE_STATUSES.has(status) ? status : 'PROVISIONING') as MachineStatus,
    ip: nic?.networkIP || null,
    publicIp: nic?.accessConfigs?.[0]?.natIP || null,
    labels: { ...(instance.labels ?? {}) },
    labelFingerprint: instance.labelFingerprint || null,
    createdAt: Number.isFinite(created) ? created : null,
  };
}

/** `labels.a = "x" AND labels.b = "y"`, as the list filter takes it. */
export function labelFilter(labels: Record<string, string>): string {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `(labels.${k} = "${v.replace(/(["\\])/g, '\\$1')}")`)
    .join(' AND ');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ───────────────────────────── the adapter ─────────────────────────────

export class GceCompute implements Compute {
  private readonly project: string;
  private readonly instances: InstanceType<typeof compute.InstancesClient>;
  private readonly zoneOperations: InstanceType<typeof compute.ZoneOperationsClient>;
  private readonly regions: InstanceType<typeof compute.RegionsClient>;
  private readonly operationTimeoutMs: number;
  private readonly setLabelsAttempts: number;
  private readonly listPageSize: number;

  constructor(options: GceComputeOptions) {
    this.project = options.project;
    this.operationTimeoutMs = options.operationTimeoutMs ?? 10 * 60_000;
    this.setLabelsAttempts = options.setLabelsAttempts ?? 5;
    this.listPageSize = options.listPageSize ?? 500;
    const clientOptions = options.endpoint
      ? {
          apiEndpoint: options.endpoint.host,
          port: options.endpoint.port,
          protocol: 'http',
          projectId: options.project,
          // Without an auth client the library looks for default credentials and dies.
          authClient: new PassThroughClient() as never,
        }
      : { projectId: options.project };
    this.instances = new compute.InstancesClient(clientOptions);
    this.zoneOperations = new compute.ZoneOperationsClient(clientOptions);
    this.regions = new compute.RegionsClient(clientOptions);
  }

  async createMachine(req: CreateMachineRequest): Promise<Machine> {
    const context = `insert ${req.zone}/${req.name}`;
    let op: IOperation;
    try {
      const [lro] = await this.instances.insert({
        project: this.project,
        zone: req.zone,
        requestId: req.requestId,
        instanceResource: instanceResource(req),
      });
      op = lro.latestResponse as IOperation;
    } catch (err) {
      const e = toWarmerError(err, context);
      if (e.code === 'already_exists') return this.adoptExisting(req, e);
      throw e;
    }
    this.checkOperationFor(op, 'insert', req.name, context);
    op = await this.waitForOperation(req.zone, op, context);
    if (op.error?.errors?.length) {
      const e = operationToWarmerError(op, context);
      if (e.code === 'already_exists') return this.adoptExisting(req, e);
      throw e;
    }
    const machine = await this.getMachine(req.zone, req.name);
    if (!machine) throw new WarmerError('operation_failed', `${context}: the insert finished but the machine is gone`);
    return machine;
  }

  async deleteMachine(zone: string, name: string, requestId?: string): Promise<void> {
    const context = `delete ${zone}/${name}`;
    let op: IOperation;
    try {
      const [lro] = await this.instances.delete({ project: this.project, zone, instance: name, ...(requestId ? { requestId } : {}) });
      op = lro.latestResponse as IOperation;
    } catch (err) {
      const e = toWarmerError(err, context);
      if (e.code === 'not_found') return;
      throw e;
    }
    this.checkOperationFor(op, 'delete', name, context);
    op = await this.waitForOperation(zone, op, context);
    if (op.error?.errors?.length) {
      if (op.error.errors.every((e) => e.code === 'RESOURCE_NOT_FOUND')) return;
      throw operationToWarmerError(op, context);
    }
  }

  async getMachine(zone: string, name: string): Promise<Machine | null> {
    const instance = await this.getInstance(zone, name);
    return instance ? toMachine(instance) : null;
  }

  async listMachines(labels: Record<string, string>): Promise<Machine[]> {
    const filter = labelFilter(labels);
    const found = new Map<string, Machine>();
    try {
      const pages = this.instances.aggregatedListAsync(
        { project: this.project, maxResults: this.listPageSize, ...(filter ? { filter } : {}) },
        { autoPaginate: false },
      );
      for await (const [scope, scoped] of pages) {
        if (String(scoped.warning?.code ?? '') === 'UNREACHABLE') {
          throw new WarmerError('transient', `list instances: ${scope} is unreachable; refusing a partial inventory`);
        }
        for (const instance of scoped.instances ?? []) {
          const m = toMachine(instance);
          found.set(`${m.zone}/${m.name}`, m);
        }
      }
    } catch (err) {
      throw toWarmerError(err, 'list instances');
    }
    return [...found.values()];
  }

  async setLabels(zone: string, name: string, labels: Record<string, string>): Promise<void> {
    const context = `setLabels ${zone}/${name}`;
    for (let attempt = 1; ; attempt++) {
      const instance = await this.getInstance(zone, name);
      if (!instance) throw new WarmerError('not_found', `${context}: no such machine`);
      const current = instance.labels ?? {};
      const merged = { ...current, ...labels };
      if (Object.entries(merged).every(([k, v]) => current[k] === v)) return;
      try {
        const [lro] = await this.instances.setLabels({
          project: this.project,
          zone,
          instance: name,
          instancesSetLabelsRequestResource: { labels: merged, labelFingerprint: instance.labelFingerprint ?? '' },
        });
        const op = await this.waitForOperation(zone, lro.latestResponse as IOperation, context);
        if (op.error?.errors?.length) throw operationToWarmerError(op, context);
        return;
      } catch (err) {
        if (err instanceof WarmerError || !isFingerprintConflict(err)) throw toWarmerError(err, context);
        if (attempt >= this.setLabelsAttempts) {
          throw new WarmerError('transient', `${context}: the labels kept changing (${attempt} attempts)`, { cause: err });
        }
        await sleep(Math.random() * 20 * attempt);
      }
    }
  }

  async quotaHeadroom(region: string): Promise<QuotaHeadroom> {
    let quotas: protos.google.cloud.compute.v1.IQuota[];
    try {
      const [r] = await this.regions.get({ project: this.project, region });
      quotas = r.quotas ?? [];
    } catch (err) {
      throw toWarmerError(err, `get region ${region}`);
    }
    const headroom = (metric: string) => {
      const q = quotas.find((x) => String(x.metric) === metric);
      if (!q || q.limit === null || q.limit === undefined) return Infinity;
      return Number(q.limit) - Number(q.usage ?? 0);
    };
    return { region, cpus: headroom('CPUS'), instances: headroom('INSTANCES'), inUseAddresses: headroom('IN_USE_ADDRESSES') };
  }

  /** Closes the clients' connections. */
  async close(): Promise<void> {
    await Promise.all([this.instances.close(), this.zoneOperations.close(), this.regions.close()]);
  }

  // ───────────────────────────── internals ─────────────────────────────

  private async getInstance(zone: string, name: string): Promise<IInstance | null> {
    try {
      const [instance] = await this.instances.get({ project: this.project, zone, instance: name });
      return instance;
    } catch (err) {
      const e = toWarmerError(err, `get ${zone}/${name}`);
      if (e.code === 'not_found') return null;
      throw e;
    }
  }

  /** A 409 on insert: an earlier attempt made it. Return it if it is this pool's machine. */
  private async adoptExisting(req: CreateMachineRequest, original: WarmerError): Promise<Machine> {
    const existing = await this.getMachine(req.zone, req.name);
    if (!existing || existing.labels['warmer-pool'] !== req.pool) throw original;
    return existing;
  }

  /** A requestId reused for another operation returns that operation: never mistake it for ours. */
  private checkOperationFor(op: IOperation, type: string, name: string, context: string): void {
    const target = op.targetLink ? lastSegment(op.targetLink) : name;
    if ((op.operationType && op.operationType !== type) || target !== name) {
      throw new WarmerError('operation_failed', `${context}: the requestId belongs to another operation (${op.operationType} ${target})`);
    }
  }

  private async waitForOperation(zone: string, initial: IOperation, context: string): Promise<IOperation> {
    let op = initial;
    const deadline = Date.now() + this.operationTimeoutMs;
    while (String(op.status) !== 'DONE') {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new WarmerError('transient', `${context}: operation ${op.name} not done after ${this.operationTimeoutMs} ms`, {
          details: { operation: op.name, status: op.status },
        });
      }
      if (!op.name) throw new WarmerError('operation_failed', `${context}: operation without a name`);
      let timer: NodeJS.Timeout | undefined;
      try {
        const waited = this.zoneOperations.wait({ project: this.project, zone, operation: op.name }, { timeout: Math.max(remaining, 1000) });
        const timeout = new Promise<null>((resolve) => {
          timer = setTimeout(() => resolve(null), remaining);
        });
        waited.catch(() => {});
        const result = await Promise.race([waited, timeout]);
        if (result) op = result[0];
      } catch (err) {
        const e = toWarmerError(err, `${context}: wait for ${op.name}`);
        if (!e.retryable) throw e;
        await sleep(200);
      } finally {
        clearTimeout(timer);
      }
    }
    return op;
  }
}
