/** A claim as the store sees it: the request, its outcome, and served claims for the status page. */
import type { InstanceRecord } from './instance.js';

export interface ClaimRequest {
  pool: string;
  /**
   * Who claims (the token's principal). Request ids are scoped by it: the same id from
   * two principals is two claims, and a principal can never replay another's.
   */
  principal: string;
  /** Idempotency key, per principal: the same key returns the same machines. */
  requestId: string;
  assignee: string | null;
  labels: Record<string, string>;
  /** The assignee's public keys (`user:ssh-ed25519 AAAA…`), added to the machine off the claim path. */
  sshKeys?: string[];
  count: number;
  /** Seconds; null = no expiry. */
  lifetimeSeconds: number | null;
  now: number;
  /**
   * Milliseconds from the claim's start after which the store stops waiting for other
   * in-flight claims to settle (when every ready machine is being tried by them) and
   * answers empty: the caller's answer budget. Absent: only the store's own cap.
   */
  maxWaitMs?: number;
  /**
   * A top-up of this principal's existing claim with `requestId` (the claim-time check
   * replacing machines that failed it): claims `count` other ready machines and, in the
   * same transaction, puts them in the receipt in place of these names. No receipt, or
   * one without these names: answered as a replay, nothing claimed.
   */
  replacing?: string[];
  /**
   * The `updatedAt` of the pool spec the claim was checked against, when that spec came
   * from a cache past its TTL (CachingPoolStore.getPoolForClaim): the store reads the pool
   * in the claim's own transaction and answers `pool_changed`, claiming nothing, if it is
   * gone or was written since. So a stale spec never decides a claim. Only stores that
   * can verify it take it (the in-memory store refuses it).
   */
  poolVersion?: number;
}

/** What a claim asked for: a replay must ask for the same. */
export interface ClaimFingerprint {
  pool: string;
  count: number;
  assignee: string | null;
  labels: Record<string, string>;
  /** Absent on receipts written before claims carried keys: no keys. */
  sshKeys?: string[];
}

export type ClaimOutcome =
  | { kind: 'claimed'; instances: InstanceRecord[]; replayed: boolean }
  | { kind: 'empty'; available: number }
  /** The request id was used before by this principal for a different request. */
  | { kind: 'mismatch'; original: ClaimFingerprint }
  /** The pool was written (or removed) since the spec of `poolVersion`: nothing was claimed; check the claim against the stored spec. */
  | { kind: 'pool_changed' };

export function fingerprintOf(req: ClaimFingerprint): ClaimFingerprint {
  const keys = req.sshKeys ?? [];
  return { pool: req.pool, count: req.count, assignee: req.assignee, labels: { ...req.labels }, ...(keys.length > 0 ? { sshKeys: [...keys] } : {}) };
}

/** Whether a replay asks for what the original did (labels compared as a set of pairs). */
export function sameClaim(original: ClaimFingerprint, replay: ClaimFingerprint): boolean {
  const pairs = (l: Record<string, string>) => JSON.stringify(Object.entries(l).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return (
    original.pool === replay.pool &&
    original.count === replay.count &&
    (original.assignee ?? null) === (replay.assignee ?? null) &&
    pairs(original.labels ?? {}) === pairs(replay.labels ?? {}) &&
    JSON.stringify([...(original.sshKeys ?? [])].sort()) === JSON.stringify([...(replay.sshKeys ?? [])].sort())
  );
}

export interface ServedClaim {
  pool: string;
  /** Epoch ms. */
  at: number;
  /** Machines in the claim. */
  count: number;
}
