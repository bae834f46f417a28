/**
 * Teardown, driven by Pub/Sub. Idempotent: a missing or deleted machine counts as done,
 * a duplicate message finds the record already `deleted` and does nothing; a retryable
 * failure throws so Pub/Sub redelivers with backoff. Creation happens in one place only
 * (reconcile): after a delete this asks the pool to refill.
 */
import { randomUUID } from 'node:crypto';
import { WarmerError } from '../errors.js';
import type { Logger } from '../logging.js';
import { recordHistory, type HistoryStore } from '../history.js';
import type { Clock, Compute, InstanceStore, Publisher } from '../ports.js';
import type { TeardownMessage } from '../domain/messages.js';

export interface TeardownDeps {
  instances: InstanceStore;
  compute: Compute;
  publisher: Publisher;
  clock: Clock;
  logger: Logger;
  /** Teardowns with their reason, for the status page (best effort; optional). */
  history?: HistoryStore;
}

export type TeardownOutcome = 'deleted' | 'already_deleted' | 'no_record' | 'not_deleting';

export async function handleTeardown(deps: TeardownDeps, msg: TeardownMessage): Promise<TeardownOutcome> {
  const started = deps.clock.now();
  const record = await deps.instances.get(msg.instance);
  if (!record) {
    deps.logger.warn('teardown for an instance with no record; acknowledged', { instance: msg.instance, pool: msg.pool, reason: msg.reason });
    return 'no_record';
  }
  if (record.state === 'deleted') {
    deps.logger.info('teardown already done', { instance: record.name, pool: record.pool });
    return 'already_deleted';
  }
  if (record.state !== 'deleting') {
    // Every teardown is requested by first moving the record to `deleting` (release,
    // reconcile). A message for a record in another state is stale: never delete on it.
    deps.logger.warn('teardown for an instance that is not deleting; acknowledged', {
      instance: record.name,
      pool: record.pool,
      state: record.state,
      reason: msg.reason,
    });
    return 'not_deleting';
  }
  try {
    await deps.compute.deleteMachine(record.zone, record.name, record.deleteRequestId ?? undefined);
  } catch (err) {
    if (err instanceof WarmerError && err.code === 'not_found') {
      // gone = done
    } else {
      if (err instanceof WarmerError && err.code === 'operation_failed') {
        // The delete operation finished with an error. Compute Engine answers a retry with
        // the same requestId with that same failed operation, so the retry needs a new one.
        await deps.instances.update(record.name, ['deleting'], { deleteRequestId: randomUUID() });
      }
      deps.logger.warn('delete failed; Pub/Sub will redeliver', { instance: record.name, pool: record.pool }, err);
      throw err;
    }
  }
  const now = deps.clock.now();
  const closed = await deps.instances.transition(record.name, ['deleting'], 'deleted', now);
  const reason = record.reason ?? msg.reason;
  if (!closed) {
    // A duplicate delivery running at the same time closed it first.
    deps.logger.info('teardown already done', { instance: record.name, pool: record.pool });
    return 'already_deleted';
  }
  deps.logger.info('instance deleted', { instance: record.name, pool: record.pool, reason, durationMs: now - started });
  // Only the handler that closed the record gets here, so a redelivery is not counted twice.
  await recordHistory(deps.history, deps.logger, { type: 'teardown', pool: record.pool, at: now, instance: record.name, reason });
  try {
    await deps.publisher.publishRefill({ pool: record.pool, reason: 'teardown' });
  } catch (err) {
    deps.logger.warn('refill request not published', { pool: record.pool }, err);
  }
  return 'deleted';
}
