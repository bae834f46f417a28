/**
 * The state and behaviour of the Compute Engine emulator, apart from HTTP: instances that
 * are real local machines, zone operations that go PENDING → RUNNING → DONE, requestId
 * idempotency, label fingerprints, quotas computed from live machines, and the faults a
 * test injects. Methods throw `ComputeApiError` exactly where the real API answers an
 * HTTP error; failures the real API reports through the operation go there.
 */
import { createHash, randomBytes } from 'node:crypto';
import ssh2 from 'ssh2';
import type { Logger } from '../../shared/logging.js';
import { LoopbackAllocator, type AddressReservation } from './addresses.js';
import { ComputeApiError, apiAlreadyExists, apiFingerprintMismatch, apiInvalid, apiNotFound, apiRateLimited } from './api-error.js';
import type {
  ComputeEmulatorControl,
  ComputeEmulatorStats,
  CreateLocalInstance,
  LocalInstanceInfo,
  LocalMachineHealth,
  OperationErrorSpec,
  QuotaLimits,
  QuotaMetric,
} from './control.js';
import { parseFilter } from './filter.js';
import { LocalMachine, parseSshKeysMetadata } from './machine.js';
import { recordedAddress, type InstanceRecord } from './snapshot.js';

const { utils } = ssh2;

export const API_BASE = 'https://www.googleapis.com/compute/v1';
const NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const ZONE = /^[a-z]+-[a-z]+[0-9]+-[a-z]$/;
const REGION = /^[a-z]+-[a-z]+[0-9]+$/;
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
const EMPTY_LABELS_FINGERPRINT = '42WmSpB8rSM=';
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface WorldOptions {
  addressBase: string;
  sshPort: number;
  bootDelayMs: number;
  bootJitterMs: number;
  operationDelayMs: number;
  waitTimeoutMs: number;
  pageSize: number;
  defaultQuota: Record<QuotaMetric, number | null>;
  quotas: Record<string, QuotaLimits>;
  /** The SSH host private key (OpenSSH or PEM). */
  hostKey: string;
  logger: Logger;
}

type Json = Record<string, unknown>;

export interface OperationResource extends Json {
  kind: 'compute#operation';
  id: string;
  name: string;
  zone: string;
  operationType: string;
  targetLink: string;
  targetId: string;
  status: 'PENDING' | 'RUNNING' | 'DONE';
  user: string;
  progress: number;
  insertTime: string;
  startTime?: string;
  endTime?: string;
  selfLink: string;
  error?: { errors: Array<{ code: string; message: string; errorDetails?: unknown[] }> };
  httpErrorStatusCode?: number;
  httpErrorMessage?: string;
}

interface StoredOperation {
  resource: OperationResource;
  zone: string;
  waiters: Set<() => void>;
  /** For hung operations: finishes them. */
  release: (() => void) | null;
}

interface StoredInstance {
  key: string;
  name: string;
  zone: string;
  resource: Json & { labels: Record<string, string>; status: string };
  cpus: number;
  hasExternalIp: boolean;
  reservation: AddressReservation | null;
  machine: LocalMachine | null;
  health: LocalMachineHealth;
  createdAt: number;
  bootedAt: number | null;
  deleteOp: StoredOperation | null;
  /** What a test asked the machine to be once booted. */
  fault: 'none' | 'hung' | 'dead';
}

interface OpError extends OperationErrorSpec {
  httpStatus: number;
  httpMessage: string;
  errorDetails?: unknown[];
}

const DEFAULT_INSERT_ERROR: OperationErrorSpec = { code: 'INTERNAL_ERROR', message: 'Internal error. Please try again or contact Google Support. (injected)' };
const DEFAULT_DELETE_ERROR: OperationErrorSpec = { code: 'INTERNAL_ERROR', message: 'Internal error. Please try again or contact Google Support. (injected delete failure)' };

const timestamp = (ms: number) => new Date(ms).toISOString().replace('Z', '+00:00');
const numericId = () => (BigInt('0x' + randomBytes(8).toString('hex')) % 9_000_000_000_000_000_000n + 1_000_000_000_000_000_000n).toString();
const operationName = () => `operation-${Date.now()}-${randomBytes(6).toString('hex')}-${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}`;
const lastSegment = (v: string) => v.replace(/\/+$/, '').split('/').pop() ?? v;
export const regionOf = (zone: string) => zone.replace(/-[a-z]$/, '');

export function labelFingerprint(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return EMPTY_LABELS_FINGERPRINT;
  return createHash('sha256')
    .update(JSON.stringify(keys.map((k) => [k, labels[k]])))
    .digest()
    .subarray(0, 8)
    .toString('base64');
}

/** vCPUs of a machine type name, for the CPUS quota. */
export function cpusOfMachineType(type: string): number {
  const t = lastSegment(type);
  const custom = /custom-(\d+)-\d+/.exec(t);
  if (custom) return Number(custom[1]);
  const sized = /-(\d+)$/.exec(t);
  if (sized) return Number(sized[1]);
  if (/^(f1|g1)-/.test(t)) return 1;
  return 2;
}

function validateLabels(labels: unknown, field: string): Record<string, string> {
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== 'object' || Array.isArray(labels)) throw apiInvalid(`Invalid value for field '${field}'.`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
    if (!LABEL_KEY.test(k) || typeof v !== 'string' || !LABEL_VALUE.test(v)) {
      throw apiInvalid(`Invalid value for field '${field}': '${k}'. Label keys and values must be lowercase and at most 63 characters.`);
    }
    out[k] = v;
  }
  if (Object.keys(out).length > 64) throw apiInvalid(`Invalid value for field '${field}': at most 64 labels.`);
  return out;
}

export class ComputeWorld implements ComputeEmulatorControl {
  private readonly instances = new Map<string, StoredInstance>();
  private readonly operations = new Map<string, StoredOperation>();
  private readonly byRequestId = new Map<string, StoredOperation>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly allocator: LoopbackAllocator;
  private readonly requestCounts: Record<string, number> = {};
  private machinesCreated = 0;
  private machinesDeleted = 0;
  private stopped = false;

  // faults
  private quotas = new Map<string, Record<QuotaMetric, number | null>>();
  private stockouts = new Map<string, { withDetails: boolean }>();
  private rateLimit = { remaining: 0, status: 403 as 403 | 429 };
  private operationDelayMs: number;
  private insertFailures: OperationErrorSpec[] = [];
  private imageFailures = new Map<string, OperationErrorSpec>();
  private deleteFailures: OperationErrorSpec[] = [];
  private deleteHangs = 0;

  constructor(private readonly opts: WorldOptions) {
    this.allocator = new LoopbackAllocator(opts.addressBase, opts.sshPort);
    this.operationDelayMs = opts.operationDelayMs;
    this.resetQuotas();
  }

  // ───────────────────────────── API ─────────────────────────────

  /** Counts the request and applies an injected rate limit. */
  admit(kind: string): void {
    this.requestCounts[kind] = (this.requestCounts[kind] ?? 0) + 1;
    if (this.rateLimit.remaining > 0) {
      this.rateLimit.remaining--;
      throw apiRateLimited(this.rateLimit.status);
    }
  }

  async apiInsert(project: string, zone: string, body: unknown, requestId: string | null): Promise<OperationResource> {
    this.checkZone(project, zone);
    if (requestId) {
      const previous = this.byRequestId.get(requestId);
      if (previous) return previous.resource;
    }
    const parsed = this.parseInsert(project, zone, body);
    const key = `${zone}/${parsed.name}`;
    if (this.instances.has(key)) throw apiAlreadyExists(`projects/${project}/zones/${zone}/instances/${parsed.name}`);

    const targetLink = `${API_BASE}/projects/${project}/zones/${zone}/instances/${parsed.name}`;
    const failure = this.insertFailure(project, zone, parsed);
    if (failure) {
      const op = this.newOperation(project, zone, 'insert', targetLink, numericId(), requestId);
      this.runOperation(op, { onDone: () => failure });
      return op.resource;
    }

    const inst = this.newInstance(project, zone, parsed);
    const op = this.newOperation(project, zone, 'insert', targetLink, String(inst.resource.id), requestId);
    try {
      await this.attachAddress(inst);
    } catch (err) {
      this.instances.delete(key);
      throw err;
    }
    this.runOperation(op, {
      onRunning: () => this.setStatus(inst, 'STAGING'),
      onDone: () => {
        if (!this.instances.has(key)) return null;
        this.setStatus(inst, 'RUNNING');
        inst.resource.lastStartTimestamp = timestamp(Date.now());
        this.scheduleBoot(inst);
        return null;
      },
    });
    return op.resource;
  }

  apiGet(project: string, zone: string, name: string): Json {
    return this.mustFind(project, zone, name).resource;
  }

  apiDelete(project: string, zone: string, name: string, requestId: string | null): OperationResource {
    this.checkZone(project, zone);
    if (requestId) {
      const previous = this.byRequestId.get(requestId);
      if (previous) return previous.resource;
    }
    const inst = this.mustFind(project, zone, name);
    if (inst.deleteOp) {
      if (requestId) this.byRequestId.set(requestId, inst.deleteOp);
      return inst.deleteOp.resource;
    }
    const targetLink = String(inst.resource.selfLink);
    const op = this.newOperation(project, zone, 'delete', targetLink, String(inst.resource.id), requestId);
    const failure = this.deleteFailures.shift();
    if (failure) {
      this.runOperation(op, { onDone: () => ({ ...failure, httpStatus: 500, httpMessage: 'INTERNAL SERVER ERROR' }) });
      return op.resource;
    }
    inst.deleteOp = op;
    const hang = this.deleteHangs > 0;
    if (hang) this.deleteHangs--;
    this.runOperation(op, {
      hang,
      onRunning: () => {
        this.setStatus(inst, 'STOPPING');
        inst.health = 'deleting';
        void inst.machine?.stop();
      },
      onDone: () => {
        this.removeInstance(inst);
        return null;
      },
    });
    return op.resource;
  }

  apiSetLabels(project: string, zone: string, name: string, body: unknown): OperationResource {
    const inst = this.mustFind(project, zone, name);
    const b = (body ?? {}) as { labels?: unknown; labelFingerprint?: unknown };
    const labels = validateLabels(b.labels, 'labels');
    if (typeof b.labelFingerprint !== 'string' || b.labelFingerprint === '') {
      throw apiInvalid("Required field 'labelFingerprint' not specified");
    }
    if (b.labelFingerprint !== inst.resource.labelFingerprint) throw apiFingerprintMismatch();
    inst.resource.labels = labels;
    inst.resource.labelFingerprint = labelFingerprint(labels);
    const op = this.newOperation(project, zone, 'setLabels', String(inst.resource.selfLink), String(inst.resource.id), null);
    this.runOperation(op, { onDone: () => null, delayMs: Math.min(this.operationDelayMs, 50) });
    return op.resource;
  }

  apiListZone(project: string, zone: string, query: URLSearchParams): Json {
    this.checkZone(project, zone);
    const matches = this.filtered(query.get('filter')).filter((i) => i.zone === zone);
    const { page, nextPageToken } = this.page(matches, query);
    return {
      kind: 'compute#instanceList',
      id: `projects/${project}/zones/${zone}/instances`,
      items: page.map((i) => i.resource),
      selfLink: `${API_BASE}/projects/${project}/zones/${zone}/instances`,
      ...(nextPageToken ? { nextPageToken } : {}),
    };
  }

  apiListAggregated(project: string, query: URLSearchParams): Json {
    const matches = this.filtered(query.get('filter')).sort((a, b) => (a.zone === b.zone ? a.name.localeCompare(b.name) : a.zone.localeCompare(b.zone)));
    const { page, nextPageToken } = this.page(matches, query);
    const items: Record<string, { instances: Json[] }> = {};
    for (const inst of page) (items[`zones/${inst.zone}`] ??= { instances: [] }).instances.push(inst.resource);
    return {
      kind: 'compute#instanceAggregatedList',
      id: `projects/${project}/aggregated/instances`,
      items,
      selfLink: `${API_BASE}/projects/${project}/aggregated/instances`,
      ...(nextPageToken ? { nextPageToken } : {}),
    };
  }

  apiGetOperation(project: string, zone: string, name: string): OperationResource {
    const op = this.operations.get(name);
    if (!op || op.zone !== zone) throw apiNotFound(`projects/${project}/zones/${zone}/operations/${name}`);
    return op.resource;
  }

  /** Returns when the operation is DONE or after the wait timeout (like the real API's ~2 minutes). */
  async apiWaitOperation(project: string, zone: string, name: string): Promise<OperationResource> {
    const op = this.operations.get(name);
    if (!op || op.zone !== zone) throw apiNotFound(`projects/${project}/zones/${zone}/operations/${name}`);
    if (op.resource.status === 'DONE' || this.stopped) return op.resource;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        op.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.opts.waitTimeoutMs);
      op.waiters.add(done);
    });
    return op.resource;
  }

  apiGetRegion(project: string, region: string): Json {
    if (!REGION.test(region)) throw apiNotFound(`projects/${project}/regions/${region}`);
    const usage = this.usage(region);
    const limits = this.limits(region);
    const quotas = (Object.keys(usage) as QuotaMetric[])
      .filter((m) => limits[m] !== null)
      .map((metric) => ({ metric, limit: limits[metric], usage: usage[metric] }));
    return {
      kind: 'compute#region',
      id: String(1000 + [...region].reduce((a, c) => a + c.charCodeAt(0), 0)),
      creationTimestamp: '1969-12-31T16:00:00.000-08:00',
      name: region,
      description: region,
      status: 'UP',
      zones: ['a', 'b', 'c', 'f'].map((s) => `${API_BASE}/projects/${project}/zones/${region}-${s}`),
      quotas,
      selfLink: `${API_BASE}/projects/${project}/regions/${region}`,
      supportsPzs: false,
    };
  }

  // ───────────────────────────── control ─────────────────────────────

  async setQuota(region: string, limits: QuotaLimits): Promise<void> {
    const current = this.limits(region);
    for (const [metric, limit] of Object.entries(limits) as Array<[QuotaMetric, number | null | undefined]>) {
      if (limit !== undefined) current[metric] = limit;
    }
    this.quotas.set(region, current);
  }

  async setStockout(zone: string, exhausted: boolean, options: { withDetails?: boolean } = {}): Promise<void> {
    if (exhausted) this.stockouts.set(zone, { withDetails: options?.withDetails ?? false });
    else this.stockouts.delete(zone);
  }

  async rateLimitNext(count: number, options: { status?: 403 | 429 } = {}): Promise<void> {
    this.rateLimit = { remaining: count, status: options?.status ?? 403 };
  }

  async setOperationDelay(ms: number): Promise<void> {
    this.operationDelayMs = ms;
  }

  async failNextInserts(count: number, error?: OperationErrorSpec): Promise<void> {
    for (let i = 0; i < count; i++) this.insertFailures.push(error ?? DEFAULT_INSERT_ERROR);
  }

  async failInsertsOfImage(image: string, error?: OperationErrorSpec | null): Promise<void> {
    if (error === null) this.imageFailures.delete(image);
    else this.imageFailures.set(image, error ?? { code: 'RESOURCE_NOT_FOUND', message: `The resource '${image}' was not found` });
  }

  async failNextDeletes(count: number, error?: OperationErrorSpec): Promise<void> {
    for (let i = 0; i < count; i++) this.deleteFailures.push(error ?? DEFAULT_DELETE_ERROR);
  }

  async hangNextDeletes(count: number): Promise<void> {
    this.deleteHangs += count;
  }

  async releaseHungOperations(): Promise<number> {
    let released = 0;
    for (const op of this.operations.values()) {
      if (op.release) {
        const release = op.release;
        op.release = null;
        release();
        released++;
      }
    }
    return released;
  }

  async hangMachine(name: string, zone?: string): Promise<void> {
    const inst = this.find(name, zone);
    inst.fault = 'hung';
    if (inst.machine && inst.bootedAt !== null) {
      await inst.machine.hang();
      inst.health = 'hung';
    }
  }

  async killMachine(name: string, zone?: string): Promise<void> {
    const inst = this.find(name, zone);
    inst.fault = 'dead';
    if (inst.machine && inst.bootedAt !== null) {
      await inst.machine.die();
      inst.health = 'dead';
    }
  }

  async reviveMachine(name: string, zone?: string): Promise<void> {
    const inst = this.find(name, zone);
    inst.fault = 'none';
    if (inst.machine && inst.bootedAt !== null) {
      await inst.machine.up();
      inst.health = 'up';
    }
  }

  async deleteInstance(name: string, zone?: string): Promise<boolean> {
    let inst: StoredInstance;
    try {
      inst = this.find(name, zone);
    } catch {
      return false;
    }
    this.removeInstance(inst);
    return true;
  }

  async createInstance(input: CreateLocalInstance): Promise<LocalInstanceInfo> {
    const project = 'local';
    if (!ZONE.test(input.zone)) throw new Error(`bad zone ${input.zone}`);
    const body = {
      name: input.name,
      machineType: `zones/${input.zone}/machineTypes/${input.machineType ?? 'e2-small'}`,
      labels: input.labels ?? {},
      disks: [{ boot: true, autoDelete: true, initializeParams: { sourceImage: input.image ?? 'projects/debian-cloud/global/images/family/debian-12' } }],
      networkInterfaces: [{ network: 'global/networks/default', accessConfigs: input.publicIp ? [{ type: 'ONE_TO_ONE_NAT', name: 'External NAT' }] : [] }],
      metadata: { items: input.sshKeys?.length ? [{ key: 'ssh-keys', value: input.sshKeys.join('\n') }] : [] },
    };
    const parsed = this.parseInsert(project, input.zone, body);
    if (this.instances.has(`${input.zone}/${input.name}`)) throw new Error(`instance ${input.zone}/${input.name} exists`);
    const inst = this.newInstance(project, input.zone, parsed);
    try {
      await this.attachAddress(inst);
    } catch (err) {
      this.instances.delete(inst.key);
      throw err;
    }
    this.setStatus(inst, 'RUNNING');
    this.scheduleBoot(inst);
    return this.info(inst);
  }

  async listInstances(): Promise<LocalInstanceInfo[]> {
    return [...this.instances.values()].map((i) => this.info(i));
  }

  async getInstance(name: string, zone?: string): Promise<LocalInstanceInfo | null> {
    try {
      return this.info(this.find(name, zone));
    } catch {
      return null;
    }
  }

  async waitForBoot(name: string, timeoutMs: number, zone?: string): Promise<LocalInstanceInfo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await this.getInstance(name, zone);
      if (info && (info.health === 'up' || info.health === 'hung' || info.health === 'dead')) return info;
      if (Date.now() > deadline) throw new Error(`${name} did not boot within ${timeoutMs} ms (${info?.health ?? 'gone'})`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stats(): Promise<ComputeEmulatorStats> {
    return {
      requests: { ...this.requestCounts },
      machinesCreated: this.machinesCreated,
      machinesDeleted: this.machinesDeleted,
      liveMachines: this.instances.size,
    };
  }

  async reset(): Promise<void> {
    this.resetQuotas();
    this.stockouts.clear();
    this.rateLimit = { remaining: 0, status: 403 };
    this.operationDelayMs = this.opts.operationDelayMs;
    this.insertFailures = [];
    this.imageFailures.clear();
    this.deleteFailures = [];
    this.deleteHangs = 0;
    await this.releaseHungOperations();
  }

  // ───────────────────────────── snapshot hooks (see snapshot.ts) ─────────────────────────────

  /** The instances as they stand, except those being deleted. */
  exportInstances(): InstanceRecord[] {
    return [...this.instances.values()].filter((i) => !i.deleteOp).map((i) => ({ zone: i.zone, createdAt: i.createdAt, resource: { ...structuredClone(i.resource), name: i.name } }));
  }

  /** The host key every machine presents (kept in a snapshot so machines come back with it). */
  exportHostKey(): string {
    return this.opts.hostKey;
  }

  /** Brings recorded instances back as after a host reboot: same names and addresses (when free), RUNNING, booted again. */
  async restoreInstances(records: readonly InstanceRecord[]): Promise<void> {
    for (const record of records) {
      const resource = structuredClone(record.resource);
      const key = `${record.zone}/${resource.name}`;
      if (this.instances.has(key)) continue;
      const nic = (resource.networkInterfaces as Json[])[0]!;
      const inst: StoredInstance = {
        key, name: resource.name, zone: record.zone, resource, cpus: cpusOfMachineType(String(resource.machineType)),
        hasExternalIp: Array.isArray(nic.accessConfigs) && nic.accessConfigs.length > 0,
        reservation: null, machine: null, health: 'provisioning', createdAt: record.createdAt, bootedAt: null, deleteOp: null, fault: 'none',
      };
      this.instances.set(key, inst);
      await this.attachAddress(inst, recordedAddress(record));
      this.setStatus(inst, 'RUNNING');
      inst.resource.lastStartTimestamp = timestamp(Date.now());
      this.scheduleBoot(inst);
    }
  }

  /** Stops every machine and timer and wakes every waiter. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const op of this.operations.values()) for (const w of [...op.waiters]) w();
    await Promise.all(
      [...this.instances.values()].map(async (inst) => {
        await inst.machine?.stop();
        inst.reservation?.release();
      }),
    );
    this.instances.clear();
  }

  // ───────────────────────────── internals ─────────────────────────────

  private resetQuotas(): void {
    this.quotas = new Map();
    for (const [region, limits] of Object.entries(this.opts.quotas)) {
      this.quotas.set(region, { ...this.opts.defaultQuota, ...limits } as Record<QuotaMetric, number | null>);
    }
  }

  private limits(region: string): Record<QuotaMetric, number | null> {
    return { ...(this.quotas.get(region) ?? this.opts.defaultQuota) };
  }

  private usage(region: string): Record<QuotaMetric, number> {
    const usage = { CPUS: 0, INSTANCES: 0, IN_USE_ADDRESSES: 0 };
    for (const inst of this.instances.values()) {
      if (regionOf(inst.zone) !== region) continue;
      usage.INSTANCES++;
      usage.CPUS += inst.cpus;
      if (inst.hasExternalIp) usage.IN_USE_ADDRESSES++;
    }
    return usage;
  }

  private checkZone(project: string, zone: string): void {
    if (!ZONE.test(zone)) throw apiNotFound(`projects/${project}/zones/${zone}`);
  }

  private mustFind(project: string, zone: string, name: string): StoredInstance {
    this.checkZone(project, zone);
    const inst = this.instances.get(`${zone}/${name}`);
    if (!inst) throw apiNotFound(`projects/${project}/zones/${zone}/instances/${name}`);
    return inst;
  }

  private find(name: string, zone?: string | null): StoredInstance {
    if (zone) {
      const inst = this.instances.get(`${zone}/${name}`);
      if (!inst) throw new Error(`no instance ${zone}/${name}`);
      return inst;
    }
    const matches = [...this.instances.values()].filter((i) => i.name === name);
    if (matches.length !== 1) throw new Error(matches.length ? `instance name ${name} is in several zones: give the zone` : `no instance ${name}`);
    return matches[0]!;
  }

  private parseInsert(project: string, zone: string, body: unknown) {
    if (!body || typeof body !== 'object') throw apiInvalid('Invalid JSON payload received.');
    const b = body as Json;
    const name = b.name;
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw apiInvalid(`Invalid value for field 'resource.name': '${String(name)}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?|[1-9][0-9]{0,19})'`);
    }
    if (typeof b.machineType !== 'string' || !b.machineType) throw apiInvalid("Invalid value for field 'resource.machineType': ''. Machine type must be specified.");
    const machineType = lastSegment(b.machineType);
    const disks = Array.isArray(b.disks) ? (b.disks as Json[]) : [];
    const boot = disks.find((d) => d.boot === true) ?? disks[0];
    const sourceImage = (boot?.initializeParams as Json | undefined)?.sourceImage;
    if (!boot || typeof sourceImage !== 'string' || !/(^|\/)(global\/images\/|images\/)/.test(sourceImage)) {
      throw apiInvalid("Invalid value for field 'resource.disks[0].initializeParams.sourceImage'. A boot disk with a source image must be given.");
    }
    const labels = validateLabels(b.labels, 'resource.labels');
    const nics = Array.isArray(b.networkInterfaces) && b.networkInterfaces.length ? (b.networkInterfaces as Json[]) : [{}];
    const nic = nics[0]!;
    const accessConfigs = Array.isArray(nic.accessConfigs) ? (nic.accessConfigs as Json[]) : [];
    const metadataItems = Array.isArray((b.metadata as Json | undefined)?.items) ? ((b.metadata as Json).items as Array<{ key?: string; value?: string }>) : [];
    const scheduling = (b.scheduling ?? {}) as Json;
    const maxRun = scheduling.maxRunDuration as { seconds?: string | number } | undefined;
    const maxRunSeconds = maxRun?.seconds !== undefined ? Number(maxRun.seconds) : null;
    if (maxRunSeconds !== null && (!Number.isFinite(maxRunSeconds) || maxRunSeconds < 30)) {
      throw apiInvalid("Invalid value for field 'resource.scheduling.maxRunDuration'.");
    }
    if (maxRunSeconds !== null && scheduling.instanceTerminationAction !== 'DELETE' && scheduling.instanceTerminationAction !== 'STOP') {
      throw apiInvalid("Invalid value for field 'resource.scheduling.instanceTerminationAction': maxRunDuration needs DELETE or STOP.");
    }
    const url = (v: unknown, fallback: string) => {
      const s = typeof v === 'string' && v ? v : fallback;
      return s.startsWith('https://') ? s : `${API_BASE}/projects/${project}/${s.replace(/^projects\/[^/]+\//, '')}`;
    };
    return {
      name,
      machineType,
      sourceImage,
      labels,
      body: b,
      network: url(nic.network, 'global/networks/default'),
      subnetwork: url(nic.subnetwork, `regions/${regionOf(zone)}/subnetworks/default`),
      wantsExternalIp: accessConfigs.length > 0,
      metadataItems,
      scheduling,
      maxRunSeconds,
    };
  }

  private insertFailure(project: string, zone: string, parsed: ReturnType<ComputeWorld['parseInsert']>): OpError | null {
    const imageFailure = this.imageFailures.get(parsed.sourceImage) ?? this.imageFailures.get(lastSegment(parsed.sourceImage));
    if (imageFailure) return { ...imageFailure, httpStatus: 400, httpMessage: 'BAD REQUEST' };
    const injected = this.insertFailures.shift();
    if (injected) return { ...injected, httpStatus: 500, httpMessage: 'INTERNAL SERVER ERROR' };
    const stockout = this.stockouts.get(zone);
    if (stockout) {
      return stockout.withDetails
        ? {
            code: 'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS',
            message: `The zone 'projects/${project}/zones/${zone}' does not have enough resources available to fulfill the request. '(resource type:compute)'.`,
            httpStatus: 503,
            httpMessage: 'SERVICE UNAVAILABLE',
          }
        : {
            code: 'ZONE_RESOURCE_POOL_EXHAUSTED',
            message: `The zone 'projects/${project}/zones/${zone}' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.`,
            httpStatus: 503,
            httpMessage: 'SERVICE UNAVAILABLE',
          };
    }
    const region = regionOf(zone);
    const usage = this.usage(region);
    const limits = this.limits(region);
    const wanted: Record<QuotaMetric, number> = { CPUS: cpusOfMachineType(parsed.machineType), INSTANCES: 1, IN_USE_ADDRESSES: parsed.wantsExternalIp ? 1 : 0 };
    for (const metric of ['CPUS', 'INSTANCES', 'IN_USE_ADDRESSES'] as const) {
      const limit = limits[metric];
      if (limit !== null && wanted[metric] > 0 && usage[metric] + wanted[metric] > limit) {
        return {
          code: 'QUOTA_EXCEEDED',
          message: `Quota '${metric}' exceeded.  Limit: ${limit.toFixed(1)} in region ${region}.`,
          httpStatus: 403,
          httpMessage: 'FORBIDDEN',
          errorDetails: [{ quotaInfo: { metricName: `compute.googleapis.com/${metric.toLowerCase()}`, limitName: `${metric}-per-project-region`, dimensions: { region }, limit } }],
        };
      }
    }
    return null;
  }

  private newInstance(project: string, zone: string, parsed: ReturnType<ComputeWorld['parseInsert']>): StoredInstance {
    const now = Date.now();
    const id = numericId();
    const selfLink = `${API_BASE}/projects/${project}/zones/${zone}/instances/${parsed.name}`;
    const b = parsed.body;
    const tags = (b.tags as { items?: string[] } | undefined)?.items ?? [];
    const resource: StoredInstance['resource'] = {
      kind: 'compute#instance',
      id,
      creationTimestamp: timestamp(now),
      name: parsed.name,
      description: typeof b.description === 'string' ? b.description : '',
      tags: { items: tags, fingerprint: createHash('sha256').update(tags.join(',')).digest().subarray(0, 8).toString('base64') },
      machineType: `${API_BASE}/projects/${project}/zones/${zone}/machineTypes/${parsed.machineType}`,
      status: 'PROVISIONING',
      zone: `${API_BASE}/projects/${project}/zones/${zone}`,
      canIpForward: false,
      networkInterfaces: [
        {
          kind: 'compute#networkInterface',
          network: parsed.network,
          subnetwork: parsed.subnetwork,
          networkIP: '',
          name: 'nic0',
          fingerprint: randomBytes(8).toString('base64'),
          stackType: 'IPV4_ONLY',
          ...(parsed.wantsExternalIp
            ? { accessConfigs: [{ kind: 'compute#accessConfig', type: 'ONE_TO_ONE_NAT', name: 'External NAT', natIP: '', networkTier: 'PREMIUM' }] }
            : {}),
        },
      ],
      disks: [
        {
          kind: 'compute#attachedDisk',
          type: 'PERSISTENT',
          mode: 'READ_WRITE',
          source: `${API_BASE}/projects/${project}/zones/${zone}/disks/${parsed.name}`,
          deviceName: 'persistent-disk-0',
          index: 0,
          boot: true,
          autoDelete: true,
          interface: 'SCSI',
          diskSizeGb: '10',
          licenses: [],
          architecture: 'X86_64',
        },
      ],
      metadata: {
        kind: 'compute#metadata',
        fingerprint: randomBytes(8).toString('base64'),
        items: parsed.metadataItems.filter((i) => typeof i.key === 'string').map((i) => ({ key: i.key, value: String(i.value ?? '') })),
      },
      serviceAccounts: Array.isArray(b.serviceAccounts) ? b.serviceAccounts : [],
      selfLink,
      scheduling: {
        onHostMaintenance: 'MIGRATE',
        automaticRestart: true,
        preemptible: false,
        provisioningModel: 'STANDARD',
        ...(parsed.maxRunSeconds !== null
          ? { maxRunDuration: { seconds: String(parsed.maxRunSeconds) }, instanceTerminationAction: parsed.scheduling.instanceTerminationAction }
          : {}),
      },
      cpuPlatform: 'Intel Broadwell',
      labels: parsed.labels,
      labelFingerprint: labelFingerprint(parsed.labels),
      startRestricted: false,
      deletionProtection: false,
      fingerprint: randomBytes(8).toString('base64'),
    };
    const inst: StoredInstance = {
      key: `${zone}/${parsed.name}`,
      name: parsed.name,
      zone,
      resource,
      cpus: cpusOfMachineType(parsed.machineType),
      hasExternalIp: parsed.wantsExternalIp,
      reservation: null,
      machine: null,
      health: 'provisioning',
      createdAt: now,
      bootedAt: null,
      deleteOp: null,
      fault: 'none',
    };
    this.instances.set(inst.key, inst);
    this.machinesCreated++;
    if (parsed.maxRunSeconds !== null && parsed.maxRunSeconds * 1000 <= MAX_TIMER_MS) {
      this.after(parsed.maxRunSeconds * 1000, () => {
        if (this.instances.get(inst.key) === inst && !inst.deleteOp) {
          this.opts.logger.info('compute emulator: max run duration reached', { instance: inst.name, zone: inst.zone });
          this.removeInstance(inst);
        }
      });
    }
    return inst;
  }

  private async attachAddress(inst: StoredInstance, preferred?: string | null): Promise<void> {
    const reservation = await this.allocator.reserve(preferred);
    if (this.instances.get(inst.key) !== inst || this.stopped) {
      reservation.release();
      return;
    }
    inst.reservation = reservation;
    const nic = (inst.resource.networkInterfaces as Json[])[0]!;
    nic.networkIP = reservation.address;
    const access = (nic.accessConfigs as Json[] | undefined)?.[0];
    if (access) access.natIP = reservation.address;
    const items = (inst.resource.metadata as { items: Array<{ key: string; value: string }> }).items;
    inst.machine = new LocalMachine({
      identity: { name: inst.name, zone: inst.zone, ip: reservation.address },
      port: this.opts.sshPort,
      hostKey: this.opts.hostKey,
      authorizedKeys: () => parseSshKeysMetadata(items.find((i) => i.key === 'ssh-keys')?.value ?? items.find((i) => i.key === 'sshKeys')?.value),
    });
  }

  private scheduleBoot(inst: StoredInstance): void {
    inst.health = 'booting';
    const delay = this.opts.bootDelayMs + Math.random() * this.opts.bootJitterMs;
    this.after(delay, () => {
      if (this.instances.get(inst.key) !== inst || inst.deleteOp || !inst.machine) return;
      const machine = inst.machine;
      const start = inst.fault === 'hung' ? machine.hang() : inst.fault === 'dead' ? machine.die() : machine.up();
      start.then(
        () => {
          if (this.instances.get(inst.key) !== inst || inst.deleteOp) {
            void machine.stop();
            return;
          }
          inst.bootedAt = Date.now();
          inst.health = inst.fault === 'none' ? 'up' : inst.fault;
        },
        (err: unknown) => {
          inst.health = 'dead';
          this.opts.logger.warn('compute emulator: machine could not listen', { instance: inst.name, ip: inst.reservation?.address }, err);
        },
      );
    });
  }

  private setStatus(inst: StoredInstance, status: string): void {
    inst.resource.status = status;
  }

  private removeInstance(inst: StoredInstance): void {
    if (this.instances.get(inst.key) !== inst) return;
    this.instances.delete(inst.key);
    this.machinesDeleted++;
    inst.health = 'deleting';
    const machine = inst.machine;
    const reservation = inst.reservation;
    void (machine ? machine.stop() : Promise.resolve()).finally(() => reservation?.release());
  }

  private filtered(filter: string | null): StoredInstance[] {
    const predicate = parseFilter(filter);
    return [...this.instances.values()].filter((i) => predicate(i.resource));
  }

  private page<T>(items: T[], query: URLSearchParams): { page: T[]; nextPageToken: string | null } {
    const requested = query.get('maxResults');
    let size = this.opts.pageSize;
    if (requested !== null) {
      const n = Number(requested);
      if (!Number.isInteger(n) || n < 0 || n > 500) throw apiInvalid(`Invalid value for field 'maxResults': '${requested}'. Must be less than or equal to 500`);
      if (n > 0) size = Math.min(n, size);
    }
    let offset = 0;
    const token = query.get('pageToken');
    if (token) {
      const decoded = /^o:(\d+)$/.exec(Buffer.from(token, 'base64url').toString());
      if (!decoded) throw apiInvalid(`Invalid value for field 'pageToken': '${token}'.`);
      offset = Number(decoded[1]);
    }
    const page = items.slice(offset, offset + size);
    const next = offset + size < items.length ? Buffer.from(`o:${offset + size}`).toString('base64url') : null;
    return { page, nextPageToken: next };
  }

  private newOperation(project: string, zone: string, type: string, targetLink: string, targetId: string, requestId: string | null): StoredOperation {
    const name = operationName();
    const resource: OperationResource = {
      kind: 'compute#operation',
      id: numericId(),
      name,
      zone: `${API_BASE}/projects/${project}/zones/${zone}`,
      operationType: type,
      targetLink,
      targetId,
      status: 'PENDING',
      user: 'warmer@local.iam.gserviceaccount.com',
      progress: 0,
      insertTime: timestamp(Date.now()),
      selfLink: `${API_BASE}/projects/${project}/zones/${zone}/operations/${name}`,
    };
    const op: StoredOperation = { resource, zone, waiters: new Set(), release: null };
    this.operations.set(name, op);
    if (requestId) this.byRequestId.set(requestId, op);
    return op;
  }

  private runOperation(op: StoredOperation, steps: { onRunning?: () => void; onDone: () => OpError | null; hang?: boolean; delayMs?: number }): void {
    const delay = steps.delayMs ?? this.operationDelayMs;
    const finish = () => {
      if (op.resource.status === 'DONE') return;
      if (op.resource.status === 'PENDING') start();
      const error = steps.onDone();
      op.resource.status = 'DONE';
      op.resource.progress = 100;
      op.resource.endTime = timestamp(Date.now());
      if (error) {
        op.resource.error = { errors: [{ code: error.code, message: error.message, ...(error.errorDetails ? { errorDetails: error.errorDetails } : {}) }] };
        op.resource.httpErrorStatusCode = error.httpStatus;
        op.resource.httpErrorMessage = error.httpMessage;
      }
      for (const w of [...op.waiters]) w();
    };
    const start = () => {
      if (op.resource.status !== 'PENDING') return;
      op.resource.status = 'RUNNING';
      op.resource.startTime = timestamp(Date.now());
      op.resource.progress = 0;
      steps.onRunning?.();
    };
    this.after(Math.min(10, delay / 4), start);
    if (steps.hang) {
      op.release = finish;
      return;
    }
    this.after(delay, finish);
  }

  private after(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private info(inst: StoredInstance): LocalInstanceInfo {
    const nic = (inst.resource.networkInterfaces as Json[])[0]!;
    const access = (nic.accessConfigs as Json[] | undefined)?.[0];
    return {
      name: inst.name,
      zone: inst.zone,
      status: inst.resource.status,
      ip: (nic.networkIP as string) || null,
      publicIp: access ? (access.natIP as string) || null : null,
      sshPort: this.opts.sshPort,
      labels: { ...inst.resource.labels },
      health: inst.health,
      createdAt: inst.createdAt,
      bootedAt: inst.bootedAt,
    };
  }
}

/** One host key per emulator: ed25519 generates in microseconds. */
export function makeHostKey(privateKey?: string): string {
  const pem = privateKey ?? generateEd25519().private;
  const parsed = utils.parseKey(pem);
  if (parsed instanceof Error) throw parsed;
  return pem;
}

/**
 * ssh2's ed25519 key generation strips leading zero bytes of the public key, so about 1
 * key in 256 cannot be parsed back (mscdex/ssh2#1513, #1390): make another until both
 * halves parse.
 */
export function generateEd25519(comment?: string): { private: string; public: string } {
  for (;;) {
    const pair = utils.generateKeyPairSync('ed25519', comment ? { comment } : undefined);
    if (!(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error)) return pair;
  }
}
