/** A Compute Engine machine as warmer sees it, and what warmer asks to create. */
import type { PoolSpec } from './pool-spec.js';

/** What warmer asks Compute Engine to create. */
export interface CreateMachineRequest {
  pool: string;
  spec: PoolSpec;
  name: string;
  zone: string;
  /** Compute Engine idempotency key (a UUID stored on the record before the insert). */
  requestId: string;
  /** For pools with per-machine keys: the public half, as `user:ssh-rsa AAAA…`. */
  extraSshKeys?: string[];
}

export type MachineStatus = 'PROVISIONING' | 'STAGING' | 'RUNNING' | 'STOPPING' | 'STOPPED' | 'SUSPENDING' | 'SUSPENDED' | 'REPAIRING' | 'TERMINATED';

export interface Machine {
  name: string;
  /** Short zone name (us-central1-a). */
  zone: string;
  status: MachineStatus;
  /** Internal address (networkInterfaces[0].networkIP). */
  ip: string | null;
  /** External address (accessConfigs[0].natIP), when the machine has one. */
  publicIp: string | null;
  labels: Record<string, string>;
  labelFingerprint: string | null;
  /** Epoch ms (creationTimestamp). */
  createdAt: number | null;
}

export interface QuotaHeadroom {
  region: string;
  /** limit − usage for each metric; Infinity when the region reports no such quota. */
  cpus: number;
  instances: number;
  inUseAddresses: number;
}
