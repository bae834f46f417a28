/**
 * Every IAM permission the warmer functions use, and why, in one place. Derived from the
 * adapters: shared/adapters/gce-compute.ts (instances insert/get/delete/aggregatedList/
 * setLabels, zoneOperations.wait, regions.get, and the instance resource it inserts:
 * boot disk from an image, network interface, labels, metadata, tags, service account,
 * scheduling), shared/adapters/firestore-store.ts (document gets, queries, count(),
 * transactions with create/set) and shared/adapters/pubsub-publisher.ts (publish).
 *
 * These go into one project-level custom role bound to the functions' service account.
 * Two grants are deliberately NOT in it, because they belong on single resources:
 *  - iam.serviceAccounts.actAs: only on the service accounts pools attach to their
 *    machines (a second custom role holding just that, bound on each such account);
 *  - secretmanager.versions.access: only on warmer's own secrets
 *    (roles/secretmanager.secretAccessor bound on each secret).
 */

export interface Permission {
  permission: string;
  why: string;
}

export const RUNTIME_PERMISSIONS: readonly Permission[] = [
  // ── Compute Engine: the machines ──
  { permission: 'compute.instances.create', why: 'instances.insert (reconcile creates machines)' },
  { permission: 'compute.instances.delete', why: 'instances.delete (teardown, orphans)' },
  { permission: 'compute.instances.get', why: 'instances.get (the machine after insert; label fingerprint; idempotent retries)' },
  { permission: 'compute.instances.list', why: 'instances.aggregatedList filtered by the pool label (inventory of all zones)' },
  { permission: 'compute.instances.setLabels', why: 'labels on insert (warmer-pool, warmth) and setLabels for claimed machines' },
  { permission: 'compute.instances.setMetadata', why: 'metadata on insert (ssh-keys, startup-script)' },
  { permission: 'compute.instances.setTags', why: 'network tags on insert (pool spec networkTags)' },
  { permission: 'compute.instances.setServiceAccount', why: 'a service account on insert (pool spec serviceAccount)' },
  { permission: 'compute.instances.setScheduling', why: 'scheduling.maxRunDuration with termination action DELETE on insert' },
  { permission: 'compute.disks.create', why: 'the boot disk insert creates (initializeParams.sourceImage)' },
  { permission: 'compute.images.useReadOnly', why: 'the pool image as the boot disk source (images in another project need it there too)' },
  { permission: 'compute.subnetworks.use', why: 'the network interface on the pool subnetwork (or the default network)' },
  { permission: 'compute.zoneOperations.get', why: 'zoneOperations.wait on insert/delete/setLabels operations' },
  { permission: 'compute.regions.get', why: 'regions.get: the real CPUS / INSTANCES / IN_USE_ADDRESSES quota headroom' },
  // ── Firestore (server SDK; the security rules deny every client SDK) ──
  { permission: 'datastore.entities.get', why: 'document reads and transactional getAll (pools, instances, claims, poolRuntime)' },
  { permission: 'datastore.entities.list', why: 'queries and count() aggregations on instances, listing pools' },
  { permission: 'datastore.entities.create', why: 'instance records written before a machine is created; claim receipts' },
  { permission: 'datastore.entities.update', why: 'compare-and-set transitions, leases, pool specs (set() is an upsert: create + update)' },
  { permission: 'datastore.databases.getMetadata', why: 'database metadata the Firestore client reads' },
  { permission: 'datastore.indexes.list', why: 'lets a missing-index error be diagnosed from the function identity' },
  // ── Pub/Sub ──
  { permission: 'pubsub.topics.publish', why: 'teardown and refill messages' },
];

/** Added when pools may give machines public IPs (`accessConfigs` ONE_TO_ONE_NAT on insert). */
export const PUBLIC_IP_PERMISSIONS: readonly Permission[] = [
  { permission: 'compute.subnetworks.useExternalIp', why: 'an external IP on the network interface (public_ip pools)' },
];

/** The second custom role, bound only on the service accounts that pools attach to machines. */
export const ACT_AS_PERMISSIONS: readonly Permission[] = [
  { permission: 'iam.serviceAccounts.actAs', why: 'attaching the pool service account to the machines warmer creates' },
];

export function runtimePermissions(publicIps: boolean): string[] {
  return [...RUNTIME_PERMISSIONS, ...(publicIps ? PUBLIC_IP_PERMISSIONS : [])].map((p) => p.permission).sort();
}
