/**
 * The Compute Engine emulator's REST methods (the routes in emulator.ts call them). They
 * throw `ComputeApiError` exactly where the real API answers an HTTP error; failures the
 * real API reports through the operation go there.
 */
import { apiAlreadyExists, apiFingerprintMismatch, apiInvalid } from './api-error.js';
import {
  API_BASE,
  cpusOfMachineType,
  memoryMbOfMachineType,
  labelFingerprint,
  numericId,
  parseInsert,
  timestamp,
  validateLabels,
  type Json,
} from './instance-resource.js';
import { page as pageOf } from './listing.js';
import { applySetMetadata } from './metadata.js';
import { type OperationResource } from './operations.js';
import { WorldState } from './world-state.js';

export class WorldApi extends WorldState {
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
    const failure = this.faults.insertFailure(project, zone, parsed) ?? this.quotas.exceeded(zone, parsed) ?? this.placeOnNode(key, zone, parsed, targetLink);
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
      this.nodeGroups.release(key);
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

  /** instances.setMetadata (metadata.ts): the machine's keys change at once. */
  apiSetMetadata(project: string, zone: string, name: string, body: unknown): OperationResource {
    const inst = this.mustFind(project, zone, name);
    applySetMetadata(inst.resource, body);
    const op = this.operations.create(project, zone, 'setMetadata', String(inst.resource.selfLink), String(inst.resource.id), null);
    this.runOperation(op, { onDone: () => null, delayMs: Math.min(this.faults.operationDelayMs, 50) });
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

  apiListNodes(project: string, zone: string, group: string): Json {
    this.checkZone(project, zone);
    return this.nodeGroups.listNodes(project, zone, group);
  }

  apiGetNodeType(project: string, zone: string, name: string): Json {
    this.checkZone(project, zone);
    return this.nodeGroups.nodeType(project, zone, name);
  }

  apiGetMachineType(project: string, zone: string, name: string): Json {
    this.checkZone(project, zone);
    return {
      kind: 'compute#machineType',
      name,
      guestCpus: cpusOfMachineType(name),
      memoryMb: memoryMbOfMachineType(name),
      zone,
      selfLink: `${API_BASE}/projects/${project}/zones/${zone}/machineTypes/${name}`,
    };
  }
}
