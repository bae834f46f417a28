/**
 * How a test or the local stack drives the Compute Engine emulator: quotas, stock-outs,
 * rate limits, slow and failing operations, broken machines, and changes made behind
 * warmer's back. The same methods are served over HTTP as `POST /_control/<method>` with
 * `{"args":[...]}` and answer `{"result": …}`, so another process can use
 * `remoteComputeControl(baseUrl)` and get the very same interface.
 */
/**
 * Regional quota metrics: the general ones and the per-family CPU metrics (N2_CPUS,
 * C3_CPUS, …), which a region lists only when a test sets them; a machine whose family
 * metric is listed counts against it instead of CPUS (shared/domain/quota-metric.ts).
 */
export type QuotaMetric = 'CPUS' | 'INSTANCES' | 'IN_USE_ADDRESSES' | `${Uppercase<string>}_CPUS`;

/** A limit per metric; null removes the metric from the region's quotas. */
export type QuotaLimits = Partial<Record<QuotaMetric, number | null>>;

/** The error a failed operation carries (`operation.error.errors[]`). */
export interface OperationErrorSpec {
  code: string;
  message: string;
}

export type LocalMachineHealth = 'provisioning' | 'booting' | 'up' | 'hung' | 'dead' | 'deleting';

export interface LocalInstanceInfo {
  name: string;
  zone: string;
  status: string;
  ip: string | null;
  publicIp: string | null;
  sshPort: number;
  labels: Record<string, string>;
  health: LocalMachineHealth;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms when SSH started answering; null before. */
  bootedAt: number | null;
  /** The sole-tenant node it runs on, or null. */
  node: string | null;
}

export interface CreateLocalInstance {
  name: string;
  zone: string;
  labels?: Record<string, string>;
  machineType?: string;
  image?: string;
  /** `user:ssh-ed25519 AAAA…` entries for the `ssh-keys` metadata. */
  sshKeys?: string[];
  publicIp?: boolean;
  /** Place it on this sole-tenant node group (node affinity); throws when no node has room. */
  nodeGroup?: string;
}

export interface ComputeEmulatorStats {
  /** API requests served (control requests excluded), by `METHOD kind`. */
  requests: Record<string, number>;
  /** Inserts that created a machine. */
  machinesCreated: number;
  machinesDeleted: number;
  liveMachines: number;
  /** Inserts with node affinity refused because no node of the group had room. */
  placementRejections: number;
}

export interface ComputeEmulatorControl {
  /** Sets a region's quota limits (usage is always computed from live machines). */
  setQuota(region: string, limits: QuotaLimits): Promise<void>;
  /** Inserts in the zone fail with ZONE_RESOURCE_POOL_EXHAUSTED(_WITH_DETAILS) while exhausted. */
  setStockout(zone: string, exhausted: boolean, options?: { withDetails?: boolean }): Promise<void>;
  /** The next `count` API requests answer 403 rateLimitExceeded (or 429). */
  rateLimitNext(count: number, options?: { status?: 403 | 429 }): Promise<void>;
  /** How long insert/delete/setLabels operations take to reach DONE. */
  setOperationDelay(ms: number): Promise<void>;
  /** The next `count` inserts end in a DONE operation with this error. */
  failNextInserts(count: number, error?: OperationErrorSpec): Promise<void>;
  /** Every insert of this image (full path or last segment) fails, until cleared with null. */
  failInsertsOfImage(image: string, error?: OperationErrorSpec | null): Promise<void>;
  /** The next `count` deletes end in a DONE operation with this error (the machine stays). */
  failNextDeletes(count: number, error?: OperationErrorSpec): Promise<void>;
  /** The next `count` deletes never finish (the operation stays RUNNING) until released. */
  hangNextDeletes(count: number): Promise<void>;
  /** The next `count` inserts never finish (the machine stays STAGING, the operation RUNNING) until released. */
  hangNextInserts(count: number): Promise<void>;
  /** Finishes every hung operation; returns how many. */
  releaseHungOperations(): Promise<number>;
  /** The machine accepts TCP connections but never sends an SSH banner. */
  hangMachine(name: string, zone?: string): Promise<void>;
  /** The machine stops listening: connections are refused. */
  killMachine(name: string, zone?: string): Promise<void>;
  /** A hung or dead machine answers SSH again. */
  reviveMachine(name: string, zone?: string): Promise<void>;
  /** Deletes a machine behind warmer's back (no operation); false when there was none. */
  deleteInstance(name: string, zone?: string): Promise<boolean>;
  /** Creates a machine behind warmer's back (no operation, no faults); it boots as usual. */
  createInstance(input: CreateLocalInstance): Promise<LocalInstanceInfo>;
  listInstances(): Promise<LocalInstanceInfo[]>;
  getInstance(name: string, zone?: string): Promise<LocalInstanceInfo | null>;
  /** Resolves when the machine answers SSH (or is hung/dead); rejects after `timeoutMs`. */
  waitForBoot(name: string, timeoutMs: number, zone?: string): Promise<LocalInstanceInfo>;
  stats(): Promise<ComputeEmulatorStats>;
  /** Adds or replaces a sole-tenant node group (nodes of cpus/memoryMb each). */
  setNodeGroup(config: NodeGroupConfig): Promise<void>;
  /** Clears every injected fault (quotas back to defaults, no stock-outs, no delays beyond the default). */
  reset(): Promise<void>;
}

import type { NodeGroupConfig } from './node-groups.js';

export const CONTROL_METHODS = [
  'setQuota',
  'setStockout',
  'rateLimitNext',
  'setOperationDelay',
  'failNextInserts',
  'failInsertsOfImage',
  'failNextDeletes',
  'hangNextDeletes',
  'hangNextInserts',
  'releaseHungOperations',
  'hangMachine',
  'killMachine',
  'reviveMachine',
  'deleteInstance',
  'createInstance',
  'listInstances',
  'getInstance',
  'waitForBoot',
  'stats',
  'setNodeGroup',
  'reset',
] as const satisfies ReadonlyArray<keyof ComputeEmulatorControl>;

/** The control interface of an emulator in another process, over its `/_control` routes. */
export function remoteComputeControl(baseUrl: string): ComputeEmulatorControl {
  const base = baseUrl.replace(/\/+$/, '');
  const call = async (method: string, args: unknown[]): Promise<unknown> => {
    const res = await fetch(`${base}/_control/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ args }),
    });
    const body = (await res.json()) as { result?: unknown; error?: { message?: string } };
    if (!res.ok) throw new Error(`compute emulator control ${method}: ${res.status} ${body.error?.message ?? ''}`);
    return body.result;
  };
  const control: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const method of CONTROL_METHODS) control[method] = (...args) => call(method, args);
  return control as unknown as ComputeEmulatorControl;
}
