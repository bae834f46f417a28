/** A claim as the store sees it: the request, its outcome, and served claims for the status page. */
import type { InstanceRecord } from './instance.js';

export interface ClaimRequest {
  pool: string;
  /** Idempotency key: the same key returns the same machines. */
  requestId: string;
  assignee: string | null;
  labels: Record<string, string>;
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
}

export type ClaimOutcome =
  | { kind: 'claimed'; instances: InstanceRecord[]; replayed: boolean }
  | { kind: 'empty'; available: number };

export interface ServedClaim {
  pool: string;
  /** Epoch ms. */
  at: number;
  /** Machines in the claim. */
  count: number;
}
