/** The Compute Engine resource shapes warmer writes and reads: the instance it inserts, the machine it sees. */
import type { protos } from '@google-cloud/compute';
import { effectiveMaxRunDurationSeconds } from '../domain/machine-limits.js';
import { lastSegment } from '../domain/resource-path.js';
import type { CreateMachineRequest, Machine, MachineStatus } from '../domain/machine.js';
import { editSshKeys } from '../domain/assignment.js';

type IInstance = protos.google.cloud.compute.v1.IInstance;

const MACHINE_STATUSES: ReadonlySet<string> = new Set<MachineStatus>([
  'PROVISIONING',
  'STAGING',
  'RUNNING',
  'STOPPING',
  'STOPPED',
  'SUSPENDING',
  'SUSPENDED',
  'REPAIRING',
  'TERMINATED',
]);

/** The node label every sole-tenant node carries with its group's name. */
export const NODE_GROUP_AFFINITY_KEY = 'compute.googleapis.com/node-group-name';

/** The instance resource warmer inserts for a request (exported for tests). */
export function instanceResource(req: CreateMachineRequest): IInstance {
  const { spec, zone } = req;
  const sshKeys = [...spec.sshAdminKeys, ...(req.extraSshKeys ?? [])];
  const metadata: Array<{ key: string; value: string }> = [];
  if (sshKeys.length) metadata.push({ key: 'ssh-keys', value: sshKeys.join('\n') });
  if (spec.startupScript !== null) metadata.push({ key: 'startup-script', value: spec.startupScript });
  const nic: protos.google.cloud.compute.v1.INetworkInterface = {};
  if (spec.network !== null) nic.network = spec.network;
  if (spec.subnetwork !== null) nic.subnetwork = spec.subnetwork;
  if (spec.network === null && spec.subnetwork === null) nic.network = 'global/networks/default';
  if (spec.publicIp) nic.accessConfigs = [{ type: 'ONE_TO_ONE_NAT', name: 'External NAT' }];
  const resource: IInstance = {
    name: req.name,
    description: `warmer pool ${req.pool}`,
    machineType: `zones/${zone}/machineTypes/${lastSegment(spec.machineType)}`,
    labels: { ...spec.labels, 'warmer-pool': req.pool, 'warmer-managed': 'true', warmth: 'warmed' },
    disks: [{ boot: true, autoDelete: true, type: 'PERSISTENT', initializeParams: { sourceImage: spec.image } }],
    networkInterfaces: [nic],
    metadata: { items: metadata },
  };
  if (spec.networkTags.length) resource.tags = { items: [...spec.networkTags] };
  if (spec.serviceAccount) resource.serviceAccounts = [{ email: spec.serviceAccount.email, scopes: [...spec.serviceAccount.scopes] }];
  const maxRun = effectiveMaxRunDurationSeconds(spec);
  if (maxRun !== null) {
    resource.scheduling = { maxRunDuration: { seconds: maxRun }, instanceTerminationAction: 'DELETE' };
  }
  if (spec.placement !== null) {
    // Sole-tenant node affinity: scheduling.nodeAffinities[] of {key, operator IN|NOT_IN,
    // values}, with the node group's built-in label key compute.googleapis.com/node-group-name:
    // https://cloud.google.com/compute/docs/nodes/sole-tenant-nodes#node_affinity_and_anti-affinity
    // https://cloud.google.com/dotnet/docs/reference/Google.Cloud.Compute.V1/latest/Google.Cloud.Compute.V1.SchedulingNodeAffinity
    resource.scheduling = {
      ...resource.scheduling,
      nodeAffinities: [{ key: NODE_GROUP_AFFINITY_KEY, operator: 'IN', values: [spec.placement.nodeGroup] }],
    };
  }
  return resource;
}

export function toMachine(instance: IInstance): Machine {
  const nic = instance.networkInterfaces?.[0];
  const status = String(instance.status ?? 'PROVISIONING');
  const created = instance.creationTimestamp ? Date.parse(instance.creationTimestamp) : NaN;
  return {
    name: instance.name ?? '',
    zone: lastSegment(instance.zone ?? ''),
    status: (MACHINE_STATUSES.has(status) ? status : 'PROVISIONING') as MachineStatus,
    ip: nic?.networkIP || null,
    publicIp: nic?.accessConfigs?.[0]?.natIP || null,
    labels: { ...(instance.labels ?? {}) },
    labelFingerprint: instance.labelFingerprint || null,
    createdAt: Number.isFinite(created) ? created : null,
  };
}

/** `labels.a = "x" AND labels.b = "y"`, as the list filter takes it. */
export function labelFilter(labels: Record<string, string>): string {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `(labels.${k} = "${v.replace(/(["\\])/g, '\\$1')}")`)
    .join(' AND ');
}

/**
 * The metadata to send with instances.setMetadata for an `ssh-keys` change: every item as
 * read, `ssh-keys` edited, and the fingerprint read with it (exported for tests). null when
 * the machine already has exactly those keys.
 */
export function sshKeysMetadata(
  current: protos.google.cloud.compute.v1.IMetadata,
  change: { add: readonly string[]; remove: readonly string[] },
): protos.google.cloud.compute.v1.IMetadata | null {
  const items = (current.items ?? []).map((i) => ({ key: i.key ?? '', value: i.value ?? '' }));
  const at = items.findIndex((i) => i.key === 'ssh-keys');
  const before = at >= 0 ? items[at]!.value : '';
  const after = editSshKeys(before, change.add, change.remove);
  if (after === before) return null;
  if (at >= 0) items[at] = { key: 'ssh-keys', value: after };
  else items.push({ key: 'ssh-keys', value: after });
  return { items, fingerprint: current.fingerprint ?? '' };
}
