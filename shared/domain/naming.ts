/**
 * Instance names. Deterministic: the same (pool, requestId) always gives the same name,
 * so a retried insert (same stored requestId) targets the same machine and Compute
 * Engine answers "already exists" instead of making a second one.
 */
import { createHash } from 'node:crypto';
import { RESOURCE_NAME } from './pool-spec.js';

/** Hex characters of the request id that go into the name (40 bits of a v4 UUID). */
export const NAME_SUFFIX_LENGTH = 10;

/**
 * `${pool}-${10 hex chars}`: the first 10 hex digits of a UUID request id (dashes
 * removed), or of the SHA-256 of any other request id, so a client-chosen key still
 * gives a valid name. Pool names are at most 40 characters, so names stay ≤ 51.
 */
export function instanceName(pool: string, requestId: string): string {
  const compact = requestId.replace(/-/g, '').toLowerCase();
  const suffix = /^[0-9a-f]{10}/.test(compact)
    ? compact.slice(0, NAME_SUFFIX_LENGTH)
    : createHash('sha256').update(requestId).digest('hex').slice(0, NAME_SUFFIX_LENGTH);
  const name = `${pool}-${suffix}`;
  if (!RESOURCE_NAME.test(name)) {
    throw new Error(`pool name ${JSON.stringify(pool)} does not give a valid instance name`);
  }
  return name;
}
