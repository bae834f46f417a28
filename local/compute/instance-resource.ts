/**
 * The instance resource: names, labels and their fingerprint, the insert body a client
 * sends and the `compute#instance` the API answers with.
 */
import { createHash, randomBytes } from 'node:crypto';
import { apiInvalid } from './api-error.js';

export const API_BASE = 'https://www.googleapis.com/compute/v1';
const NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const ZONE = /^[a-z]+-[a-z]+[0-9]+-[a-z]$/;
export const REGION = /^[a-z]+-[a-z]+[0-9]+$/;
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
const EMPTY_LABELS_FINGERPRINT = '42WmSpB8rSM=';

export type Json = Record<string, unknown>;
export type InstanceResource = Json & { labels: Record<string, string>; status: string };

export const timestamp = (ms: number) => new Date(ms).toISOString().replace('Z', '+00:00');
export const numericId = () => ((BigInt('0x' + randomBytes(8).toString('hex')) % 9_000_000_000_000_000_000n) + 1_000_000_000_000_000_000n).toString();
export const lastSegment = (v: string) => v.replace(/\/+$/, '').split('/').pop() ?? v;
export const regionOf = (zone: string) => zone.replace(/-[a-z]$/, '');

export function labelFingerprint(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return EMPTY_LABELS_FINGERPRINT;
  return createHash('sha256')
    .update(JSON.stringify(keys.map((k) => [k, labels[k]])))
    .digest()
    .subarray(0, 8)
    .toString('base64');
}

/** vCPUs of a machine type name, for the CPUS quota. */
export function cpusOfMachineType(type: string): number {
  const t = lastSegment(type);
  const custom = /custom-(\d+)-\d+/.exec(t);
  if (custom) return Number(custom[1]);
  const sized = /-(\d+)$/.exec(t);
  if (sized) return Number(sized[1]);
  if (/^(f1|g1)-/.test(t)) return 1;
  return 2;
}

/** Memory of a machine type name in MB (standard: 4 GB per vCPU, highmem 8, highcpu 1; shared-core as listed). */
export function memoryMbOfMachineType(type: string): number {
  const t = lastSegment(type);
  const custom = /custom-\d+-(\d+)/.exec(t);
  if (custom) return Number(custom[1]);
  const shared: Record<string, number> = { 'e2-micro': 1024, 'e2-small': 2048, 'e2-medium': 4096, 'f1-micro': 614, 'g1-small': 1740 };
  if (shared[t] !== undefined) return shared[t];
  const perCpu = t.includes('highmem') ? 8192 : t.includes('highcpu') ? 1024 : 4096;
  return cpusOfMachineType(t) * perCpu;
}

export function validateLabels(labels: unknown, field: string): Record<string, string> {
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== 'object' || Array.isArray(labels)) throw apiInvalid(`Invalid value for field '${field}'.`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
    if (!LABEL_KEY.test(k) || typeof v !== 'string' || !LABEL_VALUE.test(v)) {
      throw apiInvalid(`Invalid value for field '${field}': '${k}'. Label keys and values must be lowercase and at most 63 characters.`);
    }
    out[k] = v;
  }
  if (Object.keys(out).length > 64) throw apiInvalid(`Invalid value for field '${field}': at most 64 labels.`);
  return out;
}

export function parseInsert(project: string, zone: string, body: unknown) {
  if (!body || typeof body !== 'object') throw apiInvalid('Invalid JSON payload received.');
  const b = body as Json;
  const name = b.name;
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw apiInvalid(
      `Invalid value for field 'resource.name': '${String(name)}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?|[1-9][0-9]{0,19})'`,
    );
  }
  if (typeof b.machineType !== 'string' || !b.machineType)
    throw apiInvalid("Invalid value for field 'resource.machineType': ''. Machine type must be specified.");
  const machineType = lastSegment(b.machineType);
  const disks = Array.isArray(b.disks) ? (b.disks as Json[]) : [];
  const boot = disks.find((d) => d.boot === true) ?? disks[0];
  const sourceImage = (boot?.initializeParams as Json | undefined)?.sourceImage;
  if (!boot || typeof sourceImage !== 'string' || !/(^|\/)(global\/images\/|images\/)/.test(sourceImage)) {
    throw apiInvalid("Invalid value for field 'resource.disks[0].initializeParams.sourceImage'. A boot disk with a source image must be given.");
  }
  const labels = validateLabels(b.labels, 'resource.labels');
  const nics = Array.isArray(b.networkInterfaces) && b.networkInterfaces.length ? (b.networkInterfaces as Json[]) : [{}];
  const nic = nics[0]!;
  const accessConfigs = Array.isArray(nic.accessConfigs) ? (nic.accessConfigs as Json[]) : [];
  const metadataItems = Array.isArray((b.metadata as Json | undefined)?.items) ? ((b.metadata as Json).items as Array<{ key?: string; value?: string }>) : [];
  const scheduling = (b.scheduling ?? {}) as Json;
  const maxRun = scheduling.maxRunDuration as { seconds?: string | number } | undefined;
  const maxRunSeconds = maxRun?.seconds !== undefined ? Number(maxRun.seconds) : null;
  if (maxRunSeconds !== null && (!Number.isFinite(maxRunSeconds) || maxRunSeconds < 30)) {
    throw apiInvalid("Invalid value for field 'resource.scheduling.maxRunDuration'.");
  }
  if (maxRunSeconds !== null && scheduling.instanceTerminationAction !== 'DELETE' && scheduling.instanceTerminationAction !== 'STOP') {
    throw apiInvalid("Invalid value for field 'resource.scheduling.instanceTerminationAction': maxRunDuration needs DELETE or STOP.");
  }
  const url = (v: unknown, fallback: string) => {
    const s = typeof v === 'string' && v ? v : fallback;
    return s.startsWith('https://') ? s : `${API_BASE}/projects/${project}/${s.replace(/^projects\/[^/]+\//, '')}`;
  };
  return {
    name,
    machineType,
    sourceImage,
    labels,
    body: b,
    network: url(nic.network, 'global/networks/default'),
    subnetwork: url(nic.subnetwork, `regions/${regionOf(zone)}/subnetworks/default`),
    wantsExternalIp: accessConfigs.length > 0,
    metadataItems,
    scheduling,
    maxRunSeconds,
  };
}

export type ParsedInsert = ReturnType<typeof parseInsert>;

/** The `compute#instance` of a new machine (addresses are filled in once reserved). */
export function instanceResource(project: string, zone: string, parsed: ParsedInsert, now: number): InstanceResource {
  const id = numericId();
  const selfLink = `${API_BASE}/projects/${project}/zones/${zone}/instances/${parsed.name}`;
  const b = parsed.body;
  const tags = (b.tags as { items?: string[] } | undefined)?.items ?? [];
  const resource: InstanceResource = {
    kind: 'compute#instance',
    id,
    creationTimestamp: timestamp(now),
    name: parsed.name,
    description: typeof b.description === 'string' ? b.description : '',
    tags: { items: tags, fingerprint: createHash('sha256').update(tags.join(',')).digest().subarray(0, 8).toString('base64') },
    machineType: `${API_BASE}/projects/${project}/zones/${zone}/machineTypes/${parsed.machineType}`,
    status: 'PROVISIONING',
    zone: `${API_BASE}/projects/${project}/zones/${zone}`,
    canIpForward: false,
    networkInterfaces: [
      {
        kind: 'compute#networkInterface',
        network: parsed.network,
        subnetwork: parsed.subnetwork,
        networkIP: '',
        name: 'nic0',
        fingerprint: randomBytes(8).toString('base64'),
        stackType: 'IPV4_ONLY',
        ...(parsed.wantsExternalIp
          ? { accessConfigs: [{ kind: 'compute#accessConfig', type: 'ONE_TO_ONE_NAT', name: 'External NAT', natIP: '', networkTier: 'PREMIUM' }] }
          : {}),
      },
    ],
    disks: [
      {
        kind: 'compute#attachedDisk',
        type: 'PERSISTENT',
        mode: 'READ_WRITE',
        source: `${API_BASE}/projects/${project}/zones/${zone}/disks/${parsed.name}`,
        deviceName: 'persistent-disk-0',
        index: 0,
        boot: true,
        autoDelete: true,
        interface: 'SCSI',
        diskSizeGb: '10',
        licenses: [],
        architecture: 'X86_64',
      },
    ],
    metadata: {
      kind: 'compute#metadata',
      fingerprint: randomBytes(8).toString('base64'),
      items: parsed.metadataItems.filter((i) => typeof i.key === 'string').map((i) => ({ key: i.key, value: String(i.value ?? '') })),
    },
    serviceAccounts: Array.isArray(b.serviceAccounts) ? b.serviceAccounts : [],
    selfLink,
    scheduling: {
      onHostMaintenance: 'MIGRATE',
      automaticRestart: true,
      preemptible: false,
      provisioningModel: 'STANDARD',
      ...(parsed.maxRunSeconds !== null
        ? { maxRunDuration: { seconds: String(parsed.maxRunSeconds) }, instanceTerminationAction: parsed.scheduling.instanceTerminationAction }
        : {}),
      ...(Array.isArray(parsed.scheduling.nodeAffinities) ? { nodeAffinities: structuredClone(parsed.scheduling.nodeAffinities) } : {}),
    },
    cpuPlatform: 'Intel Broadwell',
    labels: parsed.labels,
    labelFingerprint: labelFingerprint(parsed.labels),
    startRestricted: false,
    deletionProtection: false,
    fingerprint: randomBytes(8).toString('base64'),
  };
  return resource;
}
