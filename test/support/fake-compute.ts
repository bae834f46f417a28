import { WarmerError, type ErrorCode } from '../../shared/errors.js';
import { regionOfZone } from '../../shared/domain/resource-path.js';
import type { Compute, Prober } from '../../shared/ports.js';
import type { CreateMachineRequest, Machine, QuotaHeadroom } from '../../shared/domain/machine.js';
import type { ProbeResult, ProbeTarget } from '../../shared/domain/probe.js';
import { editSshKeys } from '../../shared/domain/assignment.js';
import type { NodeGroupPlacement, Shape } from '../../shared/domain/placement.js';

/** vCPUs and memory of the machine types the tests use (e2-standard-N: 4 GB per vCPU). */
export function fakeShape(machineType: string): Shape {
  const type = machineType.split('/').pop()!;
  const n = /-(\d+)$/.exec(type);
  const cpus = n ? Number(n[1]) : 2;
  const perCpu = type.includes('highmem') ? 8192 : type.includes('highcpu') ? 1024 : 4096;
  return { cpus, memoryMb: cpus * perCpu };
}

/** An in-memory Compute Engine with real behaviour (idempotent inserts, label filters) and injectable failures. */
export class FakeCompute implements Compute {
  readonly machines = new Map<string, Machine & { requestId: string }>();
  readonly stockedOut = new Set<string>();
  quota: Record<string, { instances: number }> = {};
  failCreates: ErrorCode[] = [];
  failDeletes: ErrorCode[] = [];
  listFails = false;
  /** Sole-tenant node groups by `zone/name`: nodes with their size; machines are placed first-fit. */
  readonly nodeGroups = new Map<string, Array<{ name: string; cpus: number; memoryMb: number }>>();
  /** Which node each placed machine is on. */
  readonly placedOn = new Map<string, string>();
  placementReads = 0;
  placementFails = false;
  deletes = 0;
  inserts = 0;
  private seq = 0;

  async createMachine(req: CreateMachineRequest): Promise<Machine> {
    const existing = this.machines.get(req.name);
    if (existing && existing.requestId === req.requestId) return { ...existing };
    if (existing) throw new WarmerError('already_exists', `${req.name} exists`);
    const fail = this.failCreates.shift();
    if (fail) throw new WarmerError(fail, `injected ${fail}`);
    if (this.stockedOut.has(req.zone)) throw new WarmerError('zone_stockout', `${req.zone} exhausted`);
    const region = regionOfZone(req.zone);
    const q = this.quota[region];
    if (q && [...this.machines.values()].filter((m) => regionOfZone(m.zone) === region).length >= q.instances) {
      throw new WarmerError('quota_exceeded', `INSTANCES quota in ${region}`);
    }
    if (req.spec.placement) {
      const node = this.nodeWithRoom(req.zone, req.spec.placement.nodeGroup, fakeShape(req.spec.machineType));
      if (!node) throw new WarmerError('node_group_full', `no node of ${req.spec.placement.nodeGroup} has room`);
      this.placedOn.set(req.name, node);
      this.placedShapes.set(req.name, fakeShape(req.spec.machineType));
    }
    this.inserts++;
    const ip = `127.9.${Math.floor(++this.seq / 250)}.${(this.seq % 250) + 1}`;
    const m = {
      name: req.name,
      zone: req.zone,
      status: 'RUNNING' as const,
      ip,
      publicIp: req.spec.publicIp ? ip : null,
      labels: { ...req.spec.labels, 'warmer-pool': req.pool, 'warmer-managed': 'true', warmth: 'warmed' },
      labelFingerprint: 'f0',
      createdAt: Date.now(),
      requestId: req.requestId,
    };
    this.machines.set(req.name, m);
    return { ...m };
  }

  async deleteMachine(_zone: string, name: string): Promise<void> {
    const fail = this.failDeletes.shift();
    if (fail) throw new WarmerError(fail, `injected ${fail}`);
    this.deletes++;
    this.machines.delete(name);
    this.placedOn.delete(name);
  }

  async getMachine(_zone: string, name: string): Promise<Machine | null> {
    const m = this.machines.get(name);
    return m ? { ...m } : null;
  }

  async listMachines(labels: Record<string, string>): Promise<Machine[]> {
    if (this.listFails) throw new WarmerError('transient', 'injected list failure');
    return [...this.machines.values()].filter((m) => Object.entries(labels).every(([k, v]) => m.labels[k] === v)).map((m) => ({ ...m }));
  }

  async setLabels(_zone: string, name: string, labels: Record<string, string>): Promise<void> {
    const m = this.machines.get(name);
    if (!m) throw new WarmerError('not_found', name);
    m.labels = { ...m.labels, ...labels };
  }

  /** Each machine's `ssh-keys` metadata value (absent: none). */
  readonly sshKeys = new Map<string, string>();
  failSshKeys: ErrorCode[] = [];

  async updateSshKeys(_zone: string, name: string, change: { add: readonly string[]; remove: readonly string[] }): Promise<void> {
    if (!this.machines.has(name)) throw new WarmerError('not_found', name);
    const fail = this.failSshKeys.shift();
    if (fail) throw new WarmerError(fail, `injected ${fail}`);
    this.sshKeys.set(name, editSshKeys(this.sshKeys.get(name) ?? '', change.add, change.remove));
  }

  async nodeGroupPlacement(zone: string, nodeGroup: string, machineType: string): Promise<NodeGroupPlacement> {
    this.placementReads++;
    if (this.placementFails) throw new WarmerError('transient', 'injected placement read failure');
    const group = this.nodeGroups.get(`${zone}/${nodeGroup}`);
    if (!group) throw new WarmerError('not_found', `no node group ${zone}/${nodeGroup}`);
    return { nodes: group.map((n) => ({ ...n, ...this.usedOn(n.name) })), shape: fakeShape(machineType) };
  }

  private usedOn(node: string): { usedCpus: number; usedMemoryMb: number } {
    let usedCpus = 0;
    let usedMemoryMb = 0;
    for (const [name, on] of this.placedOn) {
      if (on !== node || !this.machines.has(name)) continue;
      const shape = this.placedShapes.get(name) ?? { cpus: 0, memoryMb: 0 };
      usedCpus += shape.cpus;
      usedMemoryMb += shape.memoryMb;
    }
    return { usedCpus, usedMemoryMb };
  }

  private readonly placedShapes = new Map<string, Shape>();

  private nodeWithRoom(zone: string, nodeGroup: string, shape: Shape): string | null {
    for (const n of this.nodeGroups.get(`${zone}/${nodeGroup}`) ?? []) {
      const used = this.usedOn(n.name);
      if (n.cpus - used.usedCpus >= shape.cpus && n.memoryMb - used.usedMemoryMb >= shape.memoryMb) return n.name;
    }
    return null;
  }

  /** quotaHeadroom calls, and the machine types they asked about. */
  readonly quotaReads: Array<{ region: string; machineType: string | undefined }> = [];

  async quotaHeadroom(region: string, machineType?: string): Promise<QuotaHeadroom> {
    this.quotaReads.push({ region, machineType });
    const q = this.quota[region];
    const used = [...this.machines.values()].filter((m) => regionOfZone(m.zone) === region).length;
    return { region, cpus: Infinity, instances: q ? q.instances - used : Infinity, inUseAddresses: Infinity };
  }
}

/** Probes answer from a table: address → result; unknown addresses are refused. */
export class FakeProber implements Prober {
  readonly answers = new Map<string, ProbeResult>();
  healthyByDefault = true;

  async probe(t: ProbeTarget): Promise<ProbeResult> {
    return (
      this.answers.get(t.address) ??
      (this.healthyByDefault ? { ok: true, durationMs: 1, banner: 'SSH-2.0-fake' } : { ok: false, durationMs: 1, reason: 'refused', detail: 'ECONNREFUSED' })
    );
  }

  async probeMany(targets: ProbeTarget[]): Promise<ProbeResult[]> {
    return Promise.all(targets.map((t) => this.probe(t)));
  }
}
