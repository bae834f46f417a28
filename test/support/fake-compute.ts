import { WarmerError, type ErrorCode } from '../../shared/errors.js';
import { regionOfZone } from '../../shared/domain/pool-spec.js';
import type { Compute, Prober } from '../../shared/ports.js';
import type { CreateMachineRequest, Machine, QuotaHeadroom } from '../../shared/domain/machine.js';
import type { ProbeResult, ProbeTarget } from '../../shared/domain/probe.js';
import { editSshKeys } from '../../shared/domain/assignment.js';

/** An in-memory Compute Engine with real behaviour (idempotent inserts, label filters) and injectable failures. */
export class FakeCompute implements Compute {
  readonly machines = new Map<string, Machine & { requestId: string }>();
  readonly stockedOut = new Set<string>();
  quota: Record<string, { instances: number }> = {};
  failCreates: ErrorCode[] = [];
  failDeletes: ErrorCode[] = [];
  listFails = false;
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
