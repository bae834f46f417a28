/**
 * The transaction of a Firestore claim (shared/adapters/firestore-claim.ts): reads the
 * claim's receipt and the picked machines in one round trip, replaces inside the same
 * transaction any pick it finds taken, then flips the machines to claimed and writes the
 * receipt, or answers a replay of an earlier claim with the same request id.
 *
 * A pick found taken (by another instance, since this one read its candidates) is
 * replaced by another candidate read in the same transaction: one more read instead of a
 * rollback, a new transaction and a read of the receipt and every pick again. A transaction may read
 * before it writes as often as it likes ("Read operations must come before write
 * operations": https://cloud.google.com/firestore/docs/manage-data/transactions), and
 * what it read but does not write is only checked, not changed, at its commit.
 *
 * A claim checked against a cached pool spec past its TTL (ClaimRequest.poolVersion) also
 * reads the pool's document in that first round trip, and rolls back (PoolChanged) if it
 * is gone or was written since: the claim is then checked against the stored spec.
 */
import { Timestamp, type CollectionReference, type DocumentReference, type DocumentSnapshot, type Firestore, type Transaction } from '@google-cloud/firestore';
import { fingerprintOf, sameClaim, type ClaimFingerprint, type ClaimOutcome, type ClaimRequest } from '../domain/claim.js';
import { claimedRecord } from '../domain/instance.js';
import { AUDIT_RETENTION_MS, fromSnapshot, toStored } from './firestore-instance-record.js';

/** Rounds of replacement picks one transaction makes before it gives up and rolls back. */
export const MAX_REPLACEMENT_ROUNDS = 3;

/** claims/{claimReceiptId(principal, requestId)}: what was asked, by whom, and what was handed out. */
export interface StoredReceipt {
  pool: string;
  /** Absent on receipts written before claims had owners (and fingerprints). */
  principal?: string;
  requestId: string;
  count?: number;
  assignee?: string | null;
  labels?: Record<string, string>;
  sshKeys?: string[];
  instances: string[];
  createdAt: number;
  expireAt: Timestamp;
}

/** Thrown inside a claim transaction whose pool was written since the spec it was checked against: it rolls back. */
export class PoolChanged extends Error {
  constructor() {
    super('pool changed');
  }
}

/** Thrown inside a claim transaction whose picks moved and could not all be replaced: it rolls back instead of committing nothing. */
export class StaleCandidates extends Error {
  constructor(readonly names: string[]) {
    super('stale candidates');
  }
}

export type ClaimTransactionResult = { kind: 'claimed'; instances: ReturnType<typeof claimedRecord>[] } | { kind: 'replay'; outcome: ClaimOutcome };

export interface ClaimTransactionInput {
  db: Firestore;
  instances: CollectionReference;
  req: ClaimRequest;
  receiptRef: DocumentReference;
  /** The pool's document, read and checked against req.poolVersion when that is set. */
  poolRef: DocumentReference;
  picked: string[];
  /**
   * Called with the picks found taken: returns as many other candidates to try in their
   * place, or fewer when it has none (the transaction then rolls back).
   */
  replace: (taken: string[]) => Promise<string[]>;
}

const usable = (d: DocumentSnapshot, pool: string) => d.exists && fromSnapshot(d).state === 'ready' && fromSnapshot(d).pool === pool;

/** The answer to a request id seen before: its machines, or `mismatch` when the request differs. */
export async function replayReceipt(
  db: Firestore,
  instances: CollectionReference,
  tx: Transaction | null,
  receiptSnap: DocumentSnapshot,
  req: ClaimRequest,
): Promise<ClaimOutcome> {
  const receipt = receiptSnap.data() as StoredReceipt;
  const original: ClaimFingerprint = {
    pool: receipt.pool,
    count: receipt.count ?? receipt.instances.length,
    assignee: receipt.assignee ?? null,
    labels: receipt.labels ?? {},
    ...(receipt.sshKeys?.length ? { sshKeys: receipt.sshKeys } : {}),
  };
  if (!sameClaim(original, req)) return { kind: 'mismatch', original };
  return replayNames(db, instances, tx, receipt.instances);
}

async function replayNames(db: Firestore, instances: CollectionReference, tx: Transaction | null, names: string[]): Promise<ClaimOutcome> {
  const refs = names.map((n) => instances.doc(n));
  const snaps = refs.length === 0 ? [] : tx ? await tx.getAll(...refs) : await db.getAll(...refs);
  return { kind: 'claimed', instances: snaps.filter((s) => s.exists).map(fromSnapshot), replayed: true };
}

export function claimTransaction({ db, instances, req, receiptRef, poolRef, picked, replace }: ClaimTransactionInput): Promise<ClaimTransactionResult> {
  const verify = req.poolVersion !== undefined;
  return db.runTransaction(
    async (tx): Promise<ClaimTransactionResult> => {
      const [receipt, ...rest] = await tx.getAll(receiptRef, ...(verify ? [poolRef] : []), ...picked.map((n) => instances.doc(n)));
      const poolSnap = verify ? rest[0] : undefined;
      const read = verify ? rest.slice(1) : rest;
      const replacing = req.replacing;
      const receiptNames = receipt!.exists ? (receipt!.data() as StoredReceipt).instances : [];
      if (replacing) {
        // A top-up: only of this principal's receipt, and only while it still holds the names.
        if (!receipt!.exists || !replacing.every((n) => receiptNames.includes(n))) {
          return { kind: 'replay', outcome: await replayNames(db, instances, tx, receiptNames) };
        }
      } else if (receipt!.exists) return { kind: 'replay', outcome: await replayReceipt(db, instances, tx, receipt!, req) };
      // pools/{pool} { spec, createdAt, updatedAt } (firestore-pool-store.ts): every write sets updatedAt.
      if (poolSnap && (!poolSnap.exists || (poolSnap.get('updatedAt') as unknown) !== req.poolVersion)) throw new PoolChanged();
      let docs = read;
      for (let round = 0; ; round++) {
        const taken = docs.filter((d) => !usable(d, req.pool)).map((d) => d.id);
        if (taken.length === 0) break;
        const more = round < MAX_REPLACEMENT_ROUNDS ? await replace(taken) : [];
        // Nothing to write: roll back rather than commit an empty transaction.
        if (more.length < taken.length) throw new StaleCandidates(taken);
        docs = [...docs.filter((d) => usable(d, req.pool)), ...(await tx.getAll(...more.map((n) => instances.doc(n))))];
      }
      const claimed = docs.map((d) => {
        const next = claimedRecord(fromSnapshot(d), req);
        tx.set(d.ref, toStored(next));
        return next;
      });
      if (replacing) {
        // Whole document, no update mask (see firestore-instance-store.ts).
        const previous = receipt!.data() as StoredReceipt;
        tx.set(receiptRef, { ...previous, instances: [...receiptNames.filter((n) => !replacing.includes(n)), ...claimed.map((c) => c.name)] });
        return { kind: 'claimed', instances: claimed };
      }
      const stored: StoredReceipt = {
        ...fingerprintOf(req),
        principal: req.principal,
        requestId: req.requestId,
        instances: claimed.map((c) => c.name),
        createdAt: req.now,
        expireAt: Timestamp.fromMillis(req.now + AUDIT_RETENTION_MS),
      };
      tx.create(receiptRef, stored);
      return { kind: 'claimed', instances: claimed };
    },
    { maxAttempts: 1 },
  );
}
