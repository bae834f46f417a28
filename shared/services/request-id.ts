/**
 * Fresh Compute Engine idempotency keys: a v4 UUID, stored on the record before the
 * insert (instance names are derived from it in shared/domain/naming.ts).
 */
import { randomUUID } from 'node:crypto';

export function newRequestId(): string {
  return randomUUID();
}
