/**
 * A virtual machine as Compute Engine reports it (the cloud's view, next to warmer's own
 * InstanceRecord), and the region's quota headroom: what the reconcile decision reads.
 */
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
