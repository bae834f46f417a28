/**
 * instances.setMetadata on the local Compute Engine: the whole item list is replaced,
 * only with the current metadata fingerprint (else 412 conditionNotMet, as Compute
 * Engine answers: https://cloud.google.com/compute/docs/reference/rest/v1/instances/setMetadata).
 *
 * The items array is changed in place: a machine reads its `ssh-keys` from that very
 * array on every SSH authentication and session (world.ts, machine.ts, sandbox.ts), so a
 * key added here logs in at once and a key removed here stops working at once.
 */
import { randomBytes } from 'node:crypto';
import { ComputeApiError, apiInvalid } from './api-error.js';

type Items = Array<{ key: string; value: string }>;

/** Total size Compute Engine allows for all keys and values. */
const MAX_METADATA_BYTES = 512 * 1024;

export function applySetMetadata(resource: Record<string, unknown>, body: unknown): void {
  const metadata = resource.metadata as { fingerprint?: string; items: Items };
  const b = (body ?? {}) as { fingerprint?: unknown; items?: unknown };
  if (typeof b.fingerprint !== 'string' || b.fingerprint === '') throw apiInvalid("Required field 'fingerprint' not specified");
  if (b.fingerprint !== metadata.fingerprint) {
    throw new ComputeApiError(412, 'conditionNotMet', 'Supplied fingerprint does not match current metadata fingerprint.');
  }
  if (b.items !== undefined && !Array.isArray(b.items)) throw apiInvalid("Invalid value for field 'metadata.items'");
  const items: Items = [];
  for (const raw of (b.items ?? []) as unknown[]) {
    const i = (raw ?? {}) as { key?: unknown; value?: unknown };
    if (typeof i.key !== 'string' || !/^[a-zA-Z0-9_-]{1,128}$/.test(i.key))
      throw apiInvalid(`Invalid value for field 'metadata.items.key': '${String(i.key)}'`);
    if (items.some((x) => x.key === i.key)) throw apiInvalid(`Duplicate metadata key '${i.key}'`);
    items.push({ key: i.key, value: typeof i.value === 'string' ? i.value : String(i.value ?? '') });
  }
  if (items.reduce((n, i) => n + Buffer.byteLength(i.key) + Buffer.byteLength(i.value), 0) > MAX_METADATA_BYTES) {
    throw apiInvalid('Metadata exceeds the 512 KB limit');
  }
  metadata.items.splice(0, metadata.items.length, ...items);
  metadata.fingerprint = randomBytes(8).toString('base64');
}
