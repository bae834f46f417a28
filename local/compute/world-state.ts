/**
 * The Compute Engine emulator's state: its instances (real local machines), operations,
 * quotas and injected faults, and the internals every API and control method shares
 * (finding, creating, booting and removing a machine). The API methods are in
 * world-api.ts, the control methods and snapshot hooks in world.ts.
 */
import path from 'node:path';
import type { Logger } from '../../shared/logging.js';
import { LoopbackAllocator, type AddressReservation } from './addresses.js';
import { apiNotFound } from './api-error.js';
import type { LocalInstanceInfo, LocalMachineHealth, QuotaLimits, QuotaMetric } from './control.js';
import { ApiFaults } from './faults.js';
import { parseFilter } from './filter.js';
import { ZONE, cpusOfMachineType, memoryMbOfMachineType, instanceResource, type InstanceResource, type Json, type ParsedInsert } from './instance-resource.js';
import { LocalMachine, parseSshKeysMetadata } from './machine.js';
import { ZoneOperations, type OperationSteps, type StoredOperation } from './operations.js';
import { Quotas } from './quotas.js';
import { NodeGroups, affinityGroup, type NodeGroupConfig } from './node-groups.js';
import type { OpError } from './operations.js';
import { MachineSandbox } from './sandbox.js';
import { Timers } from './timers.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A machine's root directory under machinesDir: zone, name and id, so a recreated name gets a new disk. */
export const rootName = (inst: StoredInstance): string => `${inst.zone}-${inst.name}-${String(inst.resource.id)}`;

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
  /** Sole-tenant node groups (node-groups.ts). */
  nodeGroups: NodeGroupConfig[];
  /** The SSH host private key (OpenSSH or PEM). */
  hostKey: string;
  /** Where each machine's root directory is kept (one subdirectory per machine, removed on delete). */
  machinesDir: string;
  /** Keep the machines' roots when the world stops (their disks survive a restart of the host). */
  keepDisks: boolean;
  logger: Logger;
}

export interface StoredInstance {
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

export class WorldState {
  protected readonly instances = new Map<string, StoredInstance>();
  protected readonly timers = new Timers();
  protected readonly operations: ZoneOperations;
  protected readonly faults: ApiFaults;
  protected readonly quotas: Quotas;
  protected readonly nodeGroups: NodeGroups;
  protected readonly allocator: LoopbackAllocator;
  protected readonly requestCounts: Record<string, number> = {};
  protected machinesCreated = 0;
  protected machinesDeleted = 0;

  constructor(protected readonly opts: WorldOptions) {
    this.allocator = new LoopbackAllocator(opts.addressBase, opts.sshPort);
    this.operations = new ZoneOperations(this.timers, opts.waitTimeoutMs);
    this.faults = new ApiFaults(opts.operationDelayMs);
    this.quotas = new Quotas(opts.defaultQuota, opts.quotas, () => this.instances.values());
    this.nodeGroups = new NodeGroups(opts.nodeGroups);
  }

  /** Places an insert with node affinity on a node with room; the operation's error when none has. */
  protected placeOnNode(key: string, zone: string, parsed: ParsedInsert, url: string): OpError | null {
    const group = affinityGroup(parsed.scheduling);
    if (group === null) return null;
    return this.nodeGroups.place(key, zone, group, { cpus: cpusOfMachineType(parsed.machineType), memoryMb: memoryMbOfMachineType(parsed.machineType) }, url);
  }

  // ───────────────────────────── internals ─────────────────────────────

  protected checkZone(project: string, zone: string): void {
    if (!ZONE.test(zone)) throw apiNotFound(`projects/${project}/zones/${zone}`);
  }

  protected mustFind(project: string, zone: string, name: string): StoredInstance {
    this.checkZone(project, zone);
    const inst = this.instances.get(`${zone}/${name}`);
    if (!inst) throw apiNotFound(`projects/${project}/zones/${zone}/instances/${name}`);
    return inst;
  }

  protected find(name: string, zone?: string | null): StoredInstance {
    if (zone) {
      const inst = this.instances.get(`${zone}/${name}`);
      if (!inst) throw new Error(`no instance ${zone}/${name}`);
      return inst;
    }
    const matches = [...this.instances.values()].filter((i) => i.name === name);
    if (matches.length !== 1) throw new Error(matches.length ? `instance name ${name} is in several zones: give the zone` : `no instance ${name}`);
    return matches[0]!;
  }

  protected newInstance(project: string, zone: string, parsed: ParsedInsert): StoredInstance {
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

  protected async attachAddress(inst: StoredInstance, preferred?: string | null): Promise<void> {
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

  protected scheduleBoot(inst: StoredInstance): void {
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

  protected setStatus(inst: StoredInstance, status: string): void {
    inst.resource.status = status;
  }

  protected removeInstance(inst: StoredInstance): void {
    if (this.instances.get(inst.key) !== inst) return;
    this.instances.delete(inst.key);
    this.nodeGroups.release(inst.key);
    this.machinesDeleted++;
    inst.health = 'deleting';
    const machine = inst.machine;
    const reservation = inst.reservation;
    void (machine ? machine.stop() : Promise.resolve()).finally(() => reservation?.release());
  }

  protected filtered(filter: string | null): StoredInstance[] {
    const predicate = parseFilter(filter);
    return [...this.instances.values()].filter((i) => predicate(i.resource));
  }

  protected runOperation(op: StoredOperation, steps: OperationSteps): void {
    this.operations.run(op, steps, this.faults.operationDelayMs);
  }

  protected after(ms: number, fn: () => void): void {
    this.timers.after(ms, fn);
  }

  protected info(inst: StoredInstance): LocalInstanceInfo {
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
      node: this.nodeGroups.nodeOf(inst.key),
    };
  }
}
