/**
 * What happened to the pools, for the status page: claims served warm or missed,
 * machines becoming ready (with their boot time), teardowns (with their reason).
 *
 * Recording is best effort: a failure to record is logged and never fails the claim,
 * the reconcile pass or the teardown that produced the event. Events are append-only
 * documents with their own ids (never a counter on a hot document) and expire after
 * HISTORY_RETENTION_MS.
 */
import type { Logger } from './logging.js';

/** What is recorded. Served claims are not: their receipts are counted (InstanceStore.claimsSince). */
export type HistoryEventType = 'claim_miss' | 'ready' | 'teardown';

export interface HistoryEvent {
  type: HistoryEventType;
  pool: string;
  /** Epoch ms. */
  at: number;
  instance?: string;
  /** For `ready`: boot time, stateChangedAt.ready − createdAt. */
  durationMs?: number;
  /** For `teardown`: why the machine was torn down. */
  reason?: string;
  /** For a missed claim: how many machines were asked for. */
  count?: number;
}

export interface HistoryStore {
  record(e: HistoryEvent): Promise<void>;
  /** Events of one pool (or of every pool for null) with `at >= since`, oldest first. */
  since(pool: string | null, since: number): Promise<HistoryEvent[]>;
}

/** Events are kept this long (Firestore TTL on `expireAt`). */
export const HISTORY_RETENTION_MS = 7 * 24 * 3600 * 1000;

/** Records an event if a history store is configured; logs (never throws) on failure. */
export async function recordHistory(history: HistoryStore | undefined, logger: Logger, e: HistoryEvent): Promise<void> {
  if (!history) return;
  try {
    await history.record(e);
  } catch (err) {
    logger.warn('history event not recorded', { type: e.type, pool: e.pool, instance: e.instance }, err);
  }
}
