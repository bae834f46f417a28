/**
 * Every IAM permission the warmer functions use, and why, in one place.
 *
 * API_METHODS is the table of every API method the adapters call (as the backend sees
 * it: Firestore and Pub/Sub gRPC methods, Compute Engine REST methods) and the
 * permissions each needs. test/deploy/permissions.test.ts runs the real adapters against
 * the local emulators, records the methods they call at the emulator side, and fails
 * when a method is missing from this table, or when the runtime role lacks a permission
 * of the table or holds one the table does not justify. So the role is complete by test,
 * not by reading.
 *
 * These go into one project-level custom role bound to the functions' service account.
 * Two grants are deliberately NOT in it, because they belong on single resources:
 *  - iam.serviceAccounts.actAs: only on the service accounts pools attach to their
 *    machines (a second custom role holding just that, bound on each such account);
 *  - secretmanager.versions.access: only on warmer's own secrets
 *    (roles/secretmanager.secretAccessor bound on each secret).
 */

export type Api = 'firestore' | 'compute' | 'pubsub';

export interface ApiMethod {
  api: Api;
  /**
   * The method as the emulator records it: a gRPC method name (Firestore, Pub/Sub), or a
   * Compute REST method. Firestore commits are split by what they write
   * (`Commit:create|update|set|delete|empty`), because each needs other permissions.
   */
  method: string;
  permissions: readonly string[];
  /** Only when pools may give machines public IPs (settings.publicIps). */
  publicIpsOnly?: readonly string[];
  why: string;
}

// Firestore: "Required permissions for API methods",
//   https://cloud.google.com/firestore/docs/security/iam#permissions
//   (datastore.databases.get begins and rolls back transactions and commits with no
//   writes; datastore.databases.getMetadata only reads the database object, which the
//   server client never does — so it is not in the role.)
const FS = 'firestore';
// Compute Engine: each method's "Authorization requires the following IAM permission"
//   section, e.g. https://cloud.google.com/compute/docs/reference/rest/v1/instances/insert
//   and the permission reference https://cloud.google.com/compute/docs/access/iam-permissions
const GCE = 'compute';
// Pub/Sub: https://cloud.google.com/pubsub/docs/access-control#required_permissions
const PS = 'pubsub';

export const API_METHODS: readonly ApiMethod[] = [
  // ── Firestore (server SDK; the security rules deny every client SDK) ──
  { api: FS, method: 'BatchGetDocuments', permissions: ['datastore.entities.get'], why: 'document reads, transactional getAll' },
  { api: FS, method: 'RunQuery', permissions: ['datastore.entities.list'], why: 'queries on instances, claims, pools, history' },
  { api: FS, method: 'RunAggregationQuery', permissions: ['datastore.entities.list'], why: 'count() per state' },
  // A read with new_transaction begins the transaction itself (the client's default): it needs what BeginTransaction needs.
  {
    api: FS,
    method: 'BatchGetDocuments:newTransaction',
    permissions: ['datastore.entities.get', 'datastore.databases.get'],
    why: 'the first read of a transaction',
  },
  {
    api: FS,
    method: 'RunQuery:newTransaction',
    permissions: ['datastore.entities.list', 'datastore.databases.get'],
    why: 'a transaction that starts with a query (claim)',
  },
  {
    api: FS,
    method: 'RunAggregationQuery:newTransaction',
    permissions: ['datastore.entities.list', 'datastore.databases.get'],
    why: 'a transaction that starts with a count',
  },
  { api: FS, method: 'BeginTransaction', permissions: ['datastore.databases.get'], why: 'every claim, transition, lease, pool PUT' },
  { api: FS, method: 'Rollback', permissions: ['datastore.databases.get'], why: 'a transaction that gives up (state changed, conflict)' },
  { api: FS, method: 'Commit:empty', permissions: ['datastore.databases.get'], why: 'a read-only transaction ends with an empty commit' },
  { api: FS, method: 'Commit:create', permissions: ['datastore.entities.create'], why: 'create() with exists=false: records before machines, claim receipts' },
  {
    api: FS,
    method: 'Commit:update',
    permissions: ['datastore.entities.update'],
    why: 'update() with exists/updateTime precondition: compare-and-set transitions',
  },
  {
    api: FS,
    method: 'Commit:set',
    permissions: ['datastore.entities.create', 'datastore.entities.update'],
    why: 'set() without precondition is an upsert: pool specs, runtime, leases, history',
  },
  { api: FS, method: 'Commit:delete', permissions: ['datastore.entities.delete'], why: 'deleting a document (lease released, records purged)' },
  // ── Compute Engine: the machines ──
  {
    api: GCE,
    method: 'instances.insert',
    permissions: [
      'compute.instances.create',
      'compute.disks.create', // the boot disk (initializeParams)
      'compute.images.useReadOnly', // initializeParams.sourceImage (also needed on an image in another project)
      'compute.subnetworks.use', // the network interface
      'compute.instances.setMetadata', // ssh-keys, startup-script
      'compute.instances.setTags', // pool networkTags
      'compute.instances.setLabels', // warmer-pool, warmth, pool labels
      'compute.instances.setServiceAccount', // pool serviceAccount (plus actAs on that account, below)
      'compute.instances.setScheduling', // maxRunDuration with terminationAction DELETE
    ],
    publicIpsOnly: ['compute.subnetworks.useExternalIp'], // accessConfigs ONE_TO_ONE_NAT
    why: 'reconcile creates machines',
  },
  { api: GCE, method: 'instances.get', permissions: ['compute.instances.get'], why: 'the machine after insert; label fingerprint' },
  { api: GCE, method: 'instances.delete', permissions: ['compute.instances.delete'], why: 'teardown, orphans' },
  { api: GCE, method: 'instances.setLabels', permissions: ['compute.instances.setLabels'], why: 'labels of claimed machines' },
  { api: GCE, method: 'instances.setMetadata', permissions: ['compute.instances.setMetadata'], why: "assignees' ssh-keys on claimed machines" },
  { api: GCE, method: 'instances.list', permissions: ['compute.instances.list'], why: 'machines of one zone' },
  { api: GCE, method: 'instances.aggregatedList', permissions: ['compute.instances.list'], why: 'inventory of all zones by the pool label' },
  { api: GCE, method: 'zoneOperations.get', permissions: ['compute.zoneOperations.get'], why: 'operation status' },
  { api: GCE, method: 'zoneOperations.wait', permissions: ['compute.zoneOperations.get'], why: 'waiting on insert/delete/setLabels operations' },
  { api: GCE, method: 'regions.get', permissions: ['compute.regions.get'], why: 'quota headroom (CPUS, per-family CPUs, INSTANCES, IN_USE_ADDRESSES)' },
  // Dedicated-node pools (placement.nodeGroup): what fits on the sole-tenant group's nodes.
  {
    api: GCE,
    method: 'nodeGroups.listNodes',
    permissions: ['compute.nodeGroups.get'],
    why: "nodes of a dedicated-node pool's group and the instances on them",
  },
  { api: GCE, method: 'nodeTypes.get', permissions: ['compute.nodeTypes.get'], why: 'vCPUs and memory of each node' },
  {
    api: GCE,
    method: 'machineTypes.get',
    permissions: ['compute.machineTypes.get'],
    why: "vCPUs and memory of the pool's and the placed instances' machine types",
  },
  // ── Pub/Sub ──
  { api: PS, method: 'Publish', permissions: ['pubsub.topics.publish'], why: 'teardown and refill messages' },
];

export interface Permission {
  permission: string;
  why: string;
}

/** The runtime role, derived from the table: each permission with the methods that need it. */
function fromTable(publicIps: boolean): Permission[] {
  const why = new Map<string, string[]>();
  for (const m of API_METHODS) {
    for (const p of [...m.permissions, ...(publicIps ? (m.publicIpsOnly ?? []) : [])]) why.set(p, [...(why.get(p) ?? []), m.method]);
  }
  return [...why.entries()].map(([permission, methods]) => ({ permission, why: methods.join(', ') })).sort((a, b) => a.permission.localeCompare(b.permission));
}

/** The runtime role's permissions when pools never get public IPs. */
export const RUNTIME_PERMISSIONS: readonly Permission[] = fromTable(false);

/** Added when pools may give machines public IPs (`accessConfigs` ONE_TO_ONE_NAT on insert). */
export const PUBLIC_IP_PERMISSIONS: readonly Permission[] = fromTable(true).filter((p) => !RUNTIME_PERMISSIONS.some((r) => r.permission === p.permission));

/** The second custom role, bound only on the service accounts that pools attach to machines. */
export const ACT_AS_PERMISSIONS: readonly Permission[] = [
  // https://cloud.google.com/compute/docs/access/create-enable-service-accounts-for-instances#permissions
  { permission: 'iam.serviceAccounts.actAs', why: 'attaching the pool service account to the machines warmer creates' },
];

export function runtimePermissions(publicIps: boolean): string[] {
  return fromTable(publicIps)
    .map((p) => p.permission)
    .sort();
}

/** The table row of a recorded method, or undefined (then the test fails). */
export function methodEntry(api: Api, method: string): ApiMethod | undefined {
  return API_METHODS.find((m) => m.api === api && m.method === method);
}
