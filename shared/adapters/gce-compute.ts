/**
 * Compute Engine over `@google-cloud/compute` (REST): the `Compute` port. This file holds
 * the instance lifecycle (insert with adoption of an earlier attempt, delete, get, list,
 * labels and SSH keys); every failure becomes a `WarmerError` by kind (gce-errors.ts).
 * The rest is one concept a file: resource shapes (gce-resources.ts), waiting for zone
 * operations (gce-operations.ts), fingerprinted writes (gce-fingerprint.ts), region quotas
 * (gce-quota.ts), sole-tenant placement reads (gce-placement.ts).
 *
 * With `endpoint` it talks to the local emulator (`local/compute`) over plain HTTP with
 * no credentials; without, to the real API with Application Default Credentials.
 */
import compute from '@google-cloud/compute';
import type { protos } from '@google-cloud/compute';
import { PassThroughClient } from 'google-auth-library';
import { WarmerError } from '../errors.js';
import type { Compute } from '../ports.js';
import type { CreateMachineRequest, Machine, QuotaHeadroom } from '../domain/machine.js';
import { operationToWarmerError, toWarmerError } from './gce-errors.js';
import { retryOnFingerprintConflict } from './gce-fingerprint.js';
import { checkOperationFor, ZoneOperations } from './gce-operations.js';
import { GceQuotas } from './gce-quota.js';
import { instanceResource, labelFilter, sshKeysMetadata, toMachine } from './gce-resources.js';
import { GcePlacement } from './gce-placement.js';
import type { NodeGroupPlacement } from '../domain/placement.js';

type IInstance = protos.google.cloud.compute.v1.IInstance;
type IOperation = protos.google.cloud.compute.v1.IOperation;

export interface GceComputeOptions {
  project: string;
  /** The local emulator; null or absent for the real API. */
  endpoint?: { host: string; port: number } | null;
  /**
   * Longest wait for one insert/delete/setLabels operation before giving up with
   * `transient` (a create's record then stays `creating` and a later pass resolves it by
   * name and requestId). Default 3 minutes: inserts and deletes normally finish within one.
   */
  operationTimeoutMs?: number;
  /** Longest wait for one API request (insert, delete, get, setLabels, region). Default 60 s. */
  requestTimeoutMs?: number;
  /** Attempts of setLabels when the label fingerprint keeps moving. Default 5. */
  setLabelsAttempts?: number;
  /** maxResults of list pages. Default 500 (the API's maximum). */
  listPageSize?: number;
}

/**
 * An insert with node affinity that found no node with room: Compute Engine reports it as
 * a capacity failure (a stock-out code) or with "Instance could not be scheduled due to
 * no matching node …" (seen in https://github.com/hashicorp/terraform-provider-google/issues/8928;
 * its operation code is not documented, hence the message). For a dedicated-node pool
 * that is the node group being full, not the zone: `node_group_full`.
 */
function placementError(req: CreateMachineRequest, e: WarmerError): WarmerError {
  if (req.spec.placement === null) return e;
  if (e.code !== 'zone_stockout' && !/could not be scheduled/i.test(e.message)) return e;
  return new WarmerError('node_group_full', `${e.message} (node group ${req.spec.placement.nodeGroup})`, { cause: e, details: e.details });
}

// ───────────────────────────── the adapter ─────────────────────────────

export class GceCompute implements Compute {
  private readonly project: string;
  private readonly instances: InstanceType<typeof compute.InstancesClient>;
  private readonly operations: ZoneOperations;
  private readonly quotas: GceQuotas;
  private readonly callOptions: { timeout: number };
  private readonly setLabelsAttempts: number;
  private readonly listPageSize: number;
  private readonly placement: GcePlacement;

  constructor(options: GceComputeOptions) {
    this.project = options.project;
    this.callOptions = { timeout: options.requestTimeoutMs ?? 60_000 };
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
    this.operations = new ZoneOperations(this.project, clientOptions, options.operationTimeoutMs ?? 3 * 60_000);
    this.quotas = new GceQuotas(this.project, clientOptions, this.callOptions);
    this.placement = new GcePlacement(this.project, clientOptions, this.callOptions);
  }

  async createMachine(req: CreateMachineRequest): Promise<Machine> {
    const context = `insert ${req.zone}/${req.name}`;
    let op: IOperation;
    try {
      const [lro] = await this.instances.insert(
        {
          project: this.project,
          zone: req.zone,
          requestId: req.requestId,
          instanceResource: instanceResource(req),
        },
        this.callOptions,
      );
      op = lro.latestResponse as IOperation;
    } catch (err) {
      const e = toWarmerError(err, context);
      if (e.code === 'already_exists') return this.adoptExisting(req, e);
      throw placementError(req, e);
    }
    checkOperationFor(op, 'insert', req.name, context);
    op = await this.operations.waitDone(req.zone, op, context);
    if (op.error?.errors?.length) {
      const e = operationToWarmerError(op, context);
      if (e.code === 'already_exists') return this.adoptExisting(req, e);
      throw placementError(req, e);
    }
    const machine = await this.getMachine(req.zone, req.name);
    if (!machine) throw new WarmerError('operation_failed', `${context}: the insert finished but the machine is gone`);
    return machine;
  }

  async deleteMachine(zone: string, name: string, requestId?: string): Promise<void> {
    const context = `delete ${zone}/${name}`;
    let op: IOperation;
    try {
      const [lro] = await this.instances.delete({ project: this.project, zone, instance: name, ...(requestId ? { requestId } : {}) }, this.callOptions);
      op = lro.latestResponse as IOperation;
    } catch (err) {
      const e = toWarmerError(err, context);
      if (e.code === 'not_found') return;
      throw e;
    }
    checkOperationFor(op, 'delete', name, context);
    op = await this.operations.waitDone(zone, op, context);
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
    await retryOnFingerprintConflict(context, 'labels', this.setLabelsAttempts, async () => {
      const instance = await this.getInstance(zone, name);
      if (!instance) throw new WarmerError('not_found', `${context}: no such machine`);
      const current = instance.labels ?? {};
      const merged = { ...current, ...labels };
      if (Object.entries(merged).every(([k, v]) => current[k] === v)) return;
      const [lro] = await this.instances.setLabels({
        project: this.project,
        zone,
        instance: name,
        instancesSetLabelsRequestResource: { labels: merged, labelFingerprint: instance.labelFingerprint ?? '' },
      });
      const op = await this.operations.waitDone(zone, lro.latestResponse as IOperation, context);
      if (op.error?.errors?.length) throw operationToWarmerError(op, context);
    });
  }

  /**
   * instances.setMetadata replaces the whole item list and needs the current metadata
   * fingerprint (412 conditionNotMet when it moved: read again and retry):
   * https://cloud.google.com/compute/docs/reference/rest/v1/instances/setMetadata. Only the
   * `ssh-keys` item changes (editSshKeys); every other item is sent back as read.
   */
  async updateSshKeys(zone: string, name: string, change: { add: readonly string[]; remove: readonly string[] }): Promise<void> {
    const context = `setMetadata ${zone}/${name}`;
    await retryOnFingerprintConflict(context, 'metadata', this.setLabelsAttempts, async () => {
      const instance = await this.getInstance(zone, name);
      if (!instance) throw new WarmerError('not_found', `${context}: no such machine`);
      const metadata = sshKeysMetadata(instance.metadata ?? {}, change);
      if (!metadata) return;
      const [lro] = await this.instances.setMetadata({ project: this.project, zone, instance: name, metadataResource: metadata }, this.callOptions);
      const op = await this.operations.waitDone(zone, lro.latestResponse as IOperation, context);
      if (op.error?.errors?.length) throw operationToWarmerError(op, context);
    });
  }

  /** Headroom of the region's quotas (gce-quota.ts). */
  async quotaHeadroom(region: string, machineType?: string): Promise<QuotaHeadroom> {
    return this.quotas.headroom(region, machineType);
  }

  async nodeGroupPlacement(zone: string, nodeGroup: string, machineType: string): Promise<NodeGroupPlacement> {
    const [nodes, shape] = await Promise.all([this.placement.nodes(zone, nodeGroup), this.placement.machineShape(zone, machineType)]);
    return { nodes, shape };
  }

  /** Closes the clients' connections. */
  async close(): Promise<void> {
    await Promise.all([this.instances.close(), this.operations.close(), this.quotas.close(), this.placement.close()]);
  }

  // ───────────────────────────── internals ─────────────────────────────

  private async getInstance(zone: string, name: string): Promise<IInstance | null> {
    try {
      const [instance] = await this.instances.get({ project: this.project, zone, instance: name }, this.callOptions);
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
}
