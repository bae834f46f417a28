/**
 * The Compute Engine emulator's instances, apart from HTTP: the control methods a test
 * calls and the snapshot hooks, over instances that are real local machines. The state
 * and its internals are in world-state.ts, the API methods the routes call in
 * world-api.ts; operations, quotas, injected faults and the instance resource each live
 * in a file of their own.
 */
import type { ComputeEmulatorControl, ComputeEmulatorStats, CreateLocalInstance, LocalInstanceInfo, OperationErrorSpec, QuotaLimits } from './control.js';
import { API_BASE, ZONE, cpusOfMachineType, memoryMbOfMachineType, parseInsert, timestamp, type Json } from './instance-resource.js';
import { NODE_GROUP_AFFINITY_KEY, affinityGroup, type NodeGroupConfig } from './node-groups.js';
import { recordedAddress, type InstanceRecord } from './snapshot.js';
import { WorldApi } from './world-api.js';
import { rootName, type StoredInstance } from './world-state.js';

export { API_BASE, cpusOfMachineType, labelFingerprint, regionOf } from './instance-resource.js';
export { generateEd25519, makeHostKey } from './host-key.js';
export type { OperationResource } from './operations.js';
export type { WorldOptions } from './world-state.js';

export class ComputeWorld extends WorldApi implements ComputeEmulatorControl {
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
      ...(input.nodeGroup ? { scheduling: { nodeAffinities: [{ key: NODE_GROUP_AFFINITY_KEY, operator: 'IN', values: [input.nodeGroup] }] } } : {}),
    };
    const parsed = parseInsert(project, input.zone, body);
    const key = `${input.zone}/${input.name}`;
    if (this.instances.has(key)) throw new Error(`instance ${key} exists`);
    const unplaced = this.placeOnNode(key, input.zone, parsed, `${API_BASE}/projects/${project}/zones/${input.zone}/instances/${input.name}`);
    if (unplaced) throw new Error(`instance ${key}: ${unplaced.message}`);
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
      placementRejections: this.nodeGroups.rejected,
    };
  }

  async setNodeGroup(config: NodeGroupConfig): Promise<void> {
    this.nodeGroups.set(config);
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
      // Back on a node of its group (after a host reboot, first fit again).
      const group = affinityGroup((resource.scheduling ?? {}) as Json);
      if (group !== null) {
        const type = String(resource.machineType);
        this.nodeGroups.place(key, record.zone, group, { cpus: cpusOfMachineType(type), memoryMb: memoryMbOfMachineType(type) }, String(resource.selfLink));
      }
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
}
