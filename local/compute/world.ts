/**
 * The Compute Engine emulator's instances, apart from HTTP: the API methods the routes
 * call and the control methods a test calls, over instances that are real local
 * machines. Operations, quotas, injected faults and the instance resource each live in a
 * file of their own. Methods throw `ComputeApiError` exactly where the real API answers an
 * HTTP error; failures the real API reports through the operation go there.
 */
import path from 'node:path';
import type { Logger } from '../../shared/logging.js';
import { LoopbackAllocator, type AddressReservation } from './addresses.js';
import { apiAlreadyExists, apiFingerprintMismatch, apiInvalid, apiNotFound } from './api-error.js';
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
import { ApiFaults } from './faults.js';
import { parseFilter } from './filter.js';
import {
  API_BASE,
  ZONE,
  cpusOfMachineType,
  instanceResource,
  labelFingerprint,
  numericId,
  parseInsert,
  timestamp,
  validateLabels,
  type InstanceResource,
  type Json,
  type ParsedInsert,
} from './instance-resource.js';
import { page as pageOf } from './listing.js';
import { LocalMachine, parseSshKeysMetadata } from './machine.js';
import { ZoneOperations, type OperationResource, type OperationSteps, type StoredOperation } from './operations.js';
import { Quotas } from './quotas.js';
import { MachineSandbox } from './sandbox.js';
import { Timers } from './timers.js';
import { recordedAddress, type InstanceRecord } from './snapshot.js';

import { applySetMetadata } from './metadata.js';
export { API_BASE, cpusOfMachineType, labelFingerprint, regionOf } from './instance-resource.js';
export { generateEd25519, makeHostKey } from './host-key.js';
export type { OperationResource } from './operations.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A machine's root directory under machinesDir: zone, name and id, so a recreated name gets a new disk. */
const rootName = (inst: StoredInstance): string => `${inst.zone}-${inst.name}-${String(inst.resource.id)}`;

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
  /** Where each machine's root directory is kept (one subdirectory per machine, removed on delete). */
  machinesDir: string;
  /** Keep the machines' roots when the world stops (their disks survive a restart of the host). */
  keepDisks: boolean;
  logger: Logger;
}

interface StoredInstance {
  key: string;
  name: string;
  zone: string;
  resource: InstanceResource;
  cpus: number;
  /** The machine type's name, for the CPU quota metric it counts against. */
  machineType: string;
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

export class ComputeWorld implements ComputeEmulatorControl {
  private readonly instances = new Map<string, StoredInstance>();
  private readonly timers = new Timers();
  private readonly operations: ZoneOperations;
  private readonly faults: ApiFaults;
  private readonly quotas: Quotas;
  private readonly allocator: LoopbackAllocator;
  private readonly requestCounts: Record<string, number> = {};
  private machinesCreated = 0;
  private machinesDeleted = 0;

  constructor(private readonly opts: WorldOptions) {
    this.allocator = new LoopbackAllocator(opts.addressBase, opts.sshPort);
    this.operations = new ZoneOperations(this.timers, opts.waitTimeoutMs);
    this.faults = new ApiFaults(opts.operationDelayMs);
    this.quotas = new Quotas(opts.defaultQuota, opts.quotas, () => this.instances.values());
  }

  // ───────────────────────────── API ─────────────────────────────

  /** Counts the request and applies an injected rate limit. */
  admit(kind: string): void {
    this.requestCounts[kind] = (this.requestCounts[kind] ?? 0) + 1;
    this.faults.admit();
  }

  async apiInsert(project: string, zone: string, body: unknown, requestId: string | null): Promise<OperationResource> {
    this.checkZone(project, zone);
    const previous = this.operations.byRequest(requestId);
    if (previous) return previous.resource;
    const parsed = parseInsert(project, zone, body);
    const key = `${zone}/${parsed.name}`;
    if (this.instances.has(key)) throw apiAlreadyExists(`projects/${project}/zones/${zone}/instances/${parsed.name}`);

    const targetLink = `${API_BASE}/projects/${project}/zones/${zone}/instances/${parsed.name}`;
    const failure = this.faults.insertFailure(project, zone, parsed) ?? this.quotas.exceeded(zone, parsed);
    if (failure) {
      const op = this.operations.create(project, zone, 'insert', targetLink, numericId(), requestId);
      this.runOperation(op, { onDone: () => failure });
      return op.resource;
    }

    const inst = this.newInstance(project, zone, parsed);
    const op = this.operations.create(project, zone, 'insert', targetLink, String(inst.resource.id), requestId);
    try {
      await this.attachAddress(inst);
    } catch (err) {
      this.instances.delete(key);
      throw err;
    }
    this.runOperation(op, {
      hang: this.faults.takeInsertHang(),
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
    const previous = this.operations.byRequest(requestId);
    if (previous) return previous.resource;
    const inst = this.mustFind(project, zone, name);
    if (inst.deleteOp) {
      this.operations.rememberRequest(requestId, inst.deleteOp);
      return inst.deleteOp.resource;
    }
    const targetLink = String(inst.resource.selfLink);
    const op = this.operations.create(project, zone, 'delete', targetLink, String(inst.resource.id), requestId);
    const failure = this.faults.deleteFailure();
    if (failure) {
      this.runOperation(op, { onDone: () => failure });
      return op.resource;
    }
    inst.deleteOp = op;
    const hang = this.faults.takeDeleteHang();
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
    const op = this.operations.create(project, zone, 'setLabels', String(inst.resource.selfLink), String(inst.resource.id), null);
    this.runOperation(op, { onDone: () => null, delayMs: Math.min(this.faults.operationDelayMs, 50) });
    return op.resource;
  }

  /** instances.setMetadata (metadata.ts): the machine's keys change at once. */
  apiSetMetadata(project: string, zone: string, name: string, body: unknown): OperationResource {
    const inst = this.mustFind(project, zone, name);
    applySetMetadata(inst.resource, body);
    const op = this.operations.create(project, zone, 'setMetadata', String(inst.resource.selfLink), String(inst.resource.id), null);
    this.runOperation(op, { onDone: () => null, delayMs: Math.min(this.faults.operationDelayMs, 50) });
    return op.resource;
  }

  apiListZone(project: string, zone: string, query: URLSearchParams): Json {
    this.checkZone(project, zone);
    const matches = this.filtered(query.get('filter')).filter((i) => i.zone === zone);
    const { page, nextPageToken } = pageOf(matches, query, this.opts.pageSize);
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
    const { page, nextPageToken } = pageOf(matches, query, this.opts.pageSize);
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
    return this.operations.get(project, zone, name);
  }

  /** Returns when the operation is DONE or after the wait timeout (like the real API's ~2 minutes). */
  apiWaitOperation(project: string, zone: string, name: string): Promise<OperationResource> {
    return this.operations.wait(project, zone, name);
  }

  apiGetRegion(project: string, region: string): Json {
    return this.quotas.region(project, region);
  }

  // ───────────────────────────── control ─────────────────────────────

  async setQuota(region: string, limits: QuotaLimits): Promise<void> {
    this.quotas.set(region, limits);
  }

  async setStockout(zone: string, exhausted: boolean, options: { withDetails?: boolean } = {}): Promise<void> {
    this.faults.setStockout(zone, exhausted, options?.withDetails ?? false);
  }

  async rateLimitNext(count: number, options: { status?: 403 | 429 } = {}): Promise<void> {
    this.faults.rateLimitNext(count, options?.status ?? 403);
  }

  async setOperationDelay(ms: number): Promise<void> {
    this.faults.operationDelayMs = ms;
  }

  async failNextInserts(count: number, error?: OperationErrorSpec): Promise<void> {
    this.faults.failNextInserts(count, error);
  }

  async failInsertsOfImage(image: string, error?: OperationErrorSpec | null): Promise<void> {
    this.faults.failInsertsOfImage(image, error);
  }

  async failNextDeletes(count: number, error?: OperationErrorSpec): Promise<void> {
    this.faults.failNextDeletes(count, error);
  }

  async hangNextDeletes(count: number): Promise<void> {
    this.faults.hangNextDeletes(count);
  }

  async hangNextInserts(count: number): Promise<void> {
    this.faults.hangNextInserts(count);
  }

  async releaseHungOperations(): Promise<number> {
    return this.operations.releaseHung();
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
    const parsed = parseInsert(project, input.zone, body);
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
    this.quotas.reset();
    this.faults.reset();
    await this.releaseHungOperations();
  }

  // ───────────────────────────── snapshot hooks (see snapshot.ts) ─────────────────────────────

  /** The instances as they stand, except those being deleted. */
  exportInstances(): InstanceRecord[] {
    return [...this.instances.values()]
      .filter((i) => !i.deleteOp)
      .map((i) => ({ zone: i.zone, createdAt: i.createdAt, resource: { ...structuredClone(i.resource), name: i.name } }));
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
        key,
        name: resource.name,
        zone: record.zone,
        resource,
        cpus: cpusOfMachineType(String(resource.machineType)),
        machineType: String(resource.machineType).split('/').pop()!,
        hasExternalIp: Array.isArray(nic.accessConfigs) && nic.accessConfigs.length > 0,
        reservation: null,
        machine: null,
        health: 'provisioning',
        createdAt: record.createdAt,
        bootedAt: null,
        deleteOp: null,
        fault: 'none',
      };
      this.instances.set(key, inst);
      await this.attachAddress(inst, recordedAddress(record));
      this.setStatus(inst, 'RUNNING');
      inst.resource.lastStartTimestamp = timestamp(Date.now());
      this.scheduleBoot(inst);
    }
  }

  /** The names of the root directories (under machinesDir) of the machines that exist. */
  machineRoots(): string[] {
    return [...this.instances.values()].map(rootName);
  }

  /** Stops every machine and timer and wakes every waiter. */
  async stop(): Promise<void> {
    this.timers.stop();
    this.operations.wakeAll();
    await Promise.all(
      [...this.instances.values()].map(async (inst) => {
        await inst.machine?.stop({ keepDisk: this.opts.keepDisks });
        inst.reservation?.release();
      }),
    );
    this.instances.clear();
  }

  // ───────────────────────────── internals ─────────────────────────────

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

  private newInstance(project: string, zone: string, parsed: ParsedInsert): StoredInstance {
    const now = Date.now();
    const resource = instanceResource(project, zone, parsed, now);
    const inst: StoredInstance = {
      key: `${zone}/${parsed.name}`,
      name: parsed.name,
      zone,
      resource,
      cpus: cpusOfMachineType(parsed.machineType),
      machineType: parsed.machineType,
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
    if (this.instances.get(inst.key) !== inst || this.timers.isStopped) {
      reservation.release();
      return;
    }
    inst.reservation = reservation;
    const nic = (inst.resource.networkInterfaces as Json[])[0]!;
    nic.networkIP = reservation.address;
    const access = (nic.accessConfigs as Json[] | undefined)?.[0];
    if (access) access.natIP = reservation.address;
    const items = (inst.resource.metadata as { items: Array<{ key: string; value: string }> }).items;
    const sshKeys = () => parseSshKeysMetadata(items.find((i) => i.key === 'ssh-keys')?.value ?? items.find((i) => i.key === 'sshKeys')?.value);
    const identity = { name: inst.name, zone: inst.zone, ip: reservation.address };
    inst.machine = new LocalMachine({
      sandbox: new MachineSandbox({
        root: path.join(this.opts.machinesDir, rootName(inst)),
        hostname: inst.name,
        users: () => sshKeys().map((k) => k.user),
        identity,
      }),
      startupScript: () => items.find((i) => i.key === 'startup-script')?.value,
      onStartupScript: (result) =>
        this.opts.logger.info('compute emulator: startup script finished', { instance: inst.name, exitCode: result.code, output: result.output.slice(-2000) }),
      identity,
      port: this.opts.sshPort,
      hostKey: this.opts.hostKey,
      authorizedKeys: sshKeys,
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

  private runOperation(op: StoredOperation, steps: OperationSteps): void {
    this.operations.run(op, steps, this.faults.operationDelayMs);
  }

  private after(ms: number, fn: () => void): void {
    this.timers.after(ms, fn);
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
