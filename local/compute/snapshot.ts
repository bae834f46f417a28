/**
 * The Compute Engine emulator's instances as JSON, for the local stack's state that
 * survives a restart. What is kept is the instance resource as the API shows it (name,
 * zone, machine type, metadata with `ssh-keys` and `startup-script`, labels and their
 * fingerprint, the address in `networkInterfaces[0].networkIP`, status, creation time) and
 * the emulator's SSH host key, so a machine brought back is the same machine to a client
 * that pinned its key. Operations, faults and request ids are not kept: after a restart
 * the machines come back as after a host reboot (same names and addresses, booted again),
 * and an operation in flight is gone, as the reconcile pass expects of a lost insert.
 */
export const COMPUTE_SNAPSHOT_VERSION = 1;

/** One instance: its API resource and when it was created (epoch ms). */
export interface InstanceRecord {
  zone: string;
  createdAt: number;
  resource: Record<string, unknown> & { name: string; labels: Record<string, string>; status: string };
}

export interface ComputeSnapshot {
  version: typeof COMPUTE_SNAPSHOT_VERSION;
  /** The SSH host private key every machine presents. */
  hostKey: string | null;
  instances: InstanceRecord[];
}

export class ComputeSnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ComputeSnapshotError';
  }
}

const NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const ZONE = /^[a-z]+-[a-z]+[0-9]+-[a-z]$/;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The address a recorded instance had (null before one was attached). */
export function recordedAddress(record: InstanceRecord): string | null {
  const nics = record.resource.networkInterfaces;
  const ip = Array.isArray(nics) && isObject(nics[0]) ? nics[0].networkIP : null;
  return typeof ip === 'string' && /^127\.\d+\.\d+\.\d+$/.test(ip) ? ip : null;
}

export function encodeComputeSnapshot(hostKey: string | null, instances: readonly InstanceRecord[]): ComputeSnapshot {
  const sorted = [...instances].sort((a, b) => (a.zone === b.zone ? a.resource.name.localeCompare(b.resource.name) : a.zone.localeCompare(b.zone)));
  return { version: COMPUTE_SNAPSHOT_VERSION, hostKey, instances: sorted.map((i) => structuredClone(i)) };
}

/** Checks every instance: a damaged file is an error that says where. */
export function decodeComputeSnapshot(raw: unknown): ComputeSnapshot {
  const fail = (path: string, what: string): never => {
    throw new ComputeSnapshotError(`${path}: ${what}`);
  };
  if (!isObject(raw)) return fail('snapshot', 'expected an object');
  if (raw.version !== COMPUTE_SNAPSHOT_VERSION) fail('snapshot.version', `expected ${COMPUTE_SNAPSHOT_VERSION}, got ${JSON.stringify(raw.version)}`);
  if (raw.hostKey !== null && typeof raw.hostKey !== 'string') fail('snapshot.hostKey', 'expected a string or null');
  if (!Array.isArray(raw.instances)) return fail('snapshot.instances', 'expected an array');
  const seen = new Set<string>();
  const instances = raw.instances.map((r: unknown, i: number): InstanceRecord => {
    const path = `instances[${i}]`;
    if (!isObject(r)) return fail(path, 'expected an object');
    if (typeof r.zone !== 'string' || !ZONE.test(r.zone)) fail(`${path}.zone`, 'expected a zone such as europe-west1-b');
    if (typeof r.createdAt !== 'number' || !Number.isFinite(r.createdAt)) fail(`${path}.createdAt`, 'expected epoch milliseconds');
    const res = r.resource;
    if (!isObject(res)) return fail(`${path}.resource`, 'expected an instance resource');
    if (typeof res.name !== 'string' || !NAME.test(res.name)) fail(`${path}.resource.name`, 'expected an instance name');
    if (typeof res.status !== 'string') fail(`${path}.resource.status`, 'expected a status');
    if (!isObject(res.labels) || !Object.values(res.labels).every((v) => typeof v === 'string')) fail(`${path}.resource.labels`, 'expected string labels');
    if (!Array.isArray(res.networkInterfaces) || !isObject(res.networkInterfaces[0]))
      fail(`${path}.resource.networkInterfaces`, 'expected a network interface');
    const metadata = res.metadata;
    if (!isObject(metadata) || !Array.isArray(metadata.items)) fail(`${path}.resource.metadata`, 'expected {items: [...]}');
    const key = `${r.zone as string}/${res.name as string}`;
    if (seen.has(key)) fail(path, `duplicate instance ${key}`);
    seen.add(key);
    return { zone: r.zone as string, createdAt: r.createdAt as number, resource: res as InstanceRecord['resource'] };
  });
  return { version: COMPUTE_SNAPSHOT_VERSION, hostKey: (raw.hostKey as string | null) ?? null, instances };
}
