/**
 * How an instance record is stored: instances/{name} holds the InstanceRecord plus
 * `readyAt` (top level, so ready machines can be ordered by age) and `expireAt` (the
 * Firestore TTL of deleted records). Claim receipts live at claims/{claimReceiptId(principal, requestId)}.
 */
import { createHash } from 'node:crypto';
import { Timestamp, type DocumentSnapshot } from '@google-cloud/firestore';
import { WarmerError } from '../errors.js';
import { isInstanceState, type InstanceRecord } from '../domain/instance.js';

/** Deleted records and claim receipts are kept this long for audit (Firestore TTL on `expireAt`). */
export const AUDIT_RETENTION_MS = 30 * 24 * 3600 * 1000;

export type StoredInstance = InstanceRecord & { readyAt: number | null; expireAt?: Timestamp | null };

export function toStored(record: InstanceRecord): StoredInstance {
  return {
    ...record,
    readyAt: record.state === 'ready' ? (record.stateChangedAt.ready ?? record.updatedAt) : null,
    expireAt: record.state === 'deleted' ? Timestamp.fromMillis(record.updatedAt + AUDIT_RETENTION_MS) : null,
  };
}

export function fromSnapshot(snap: DocumentSnapshot): InstanceRecord {
  const d = snap.data() as Record<string, unknown> | undefined;
  if (!d || !isInstanceState(d.state)) {
    throw new WarmerError('internal', `instance record ${snap.id} is malformed`);
  }
  const { readyAt: _readyAt, expireAt: _expireAt, ...rest } = d;
  return rest as unknown as InstanceRecord;
}

/** The receipt of a claim: request ids are scoped per principal (hash of principal and id). */
export function claimReceiptId(principal: string, requestId: string): string {
  return createHash('sha256').update(`${principal}\u0000${requestId}`).digest('hex');
}
