/**
 * The Pub/Sub-driven functions: teardown, and reconcile (refill requests from claims and
 * teardowns, and the scheduler's tick). Each parses its message and calls one service
 * (shared/services/teardown.ts handleTeardown, refill.ts handleReconcileRequest). Returning acknowledges; throwing makes
 * Pub/Sub redeliver with backoff. A malformed message is logged and acknowledged.
 */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { z } from 'zod';
import { decodePubSubCloudEvent } from '../shared/adapters/pubsub-event.js';
import type { Logger } from '../shared/logging.js';
import { POOL_NAME } from '../shared/domain/pool-spec.js';
import { handleTeardown, type TeardownDeps } from '../shared/services/teardown.js';
import type { PassSummary, ReconcileDeps } from '../shared/services/reconcile.js';
import { DEFAULT_BOOT_WATCH, handleReconcileRequest, type BootWatch } from '../shared/services/refill.js';

const teardownMessage = z.object({ instance: z.string().min(1).max(63), pool: z.string().max(63), reason: z.string().max(256) });
/** `pool: "*"` reconciles every pool (the scheduler's tick). */
const refillMessage = z.object({ pool: z.union([z.literal('*'), z.string().regex(POOL_NAME)]), reason: z.string().max(256) });

function decode<T>(event: CloudEvent<unknown>, schema: z.ZodType<T>, logger: Logger): { data: T; publishedAt: number | null } | null {
  const decoded = decodePubSubCloudEvent(event);
  if (!decoded.ok) {
    logger.warn('malformed message acknowledged', { reason: decoded.reason, eventId: event.id });
    return null;
  }
  const parsed = schema.safeParse(decoded.data);
  if (!parsed.success) {
    logger.warn('malformed message acknowledged', {
      reason: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      messageId: decoded.messageId,
    });
    return null;
  }
  const published = event.time ? Date.parse(event.time) : NaN;
  return { data: parsed.data, publishedAt: Number.isFinite(published) ? published : null };
}

export function teardownHandler(deps: () => Promise<TeardownDeps>, logger: () => Logger) {
  return async (event: CloudEvent<unknown>): Promise<void> => {
    const msg = decode(event, teardownMessage, logger());
    if (!msg) return;
    await handleTeardown(await deps(), msg.data);
  };
}

export function reconcileHandler(deps: () => Promise<ReconcileDeps>, logger: () => Logger, bootWatch: BootWatch = DEFAULT_BOOT_WATCH) {
  return async (event: CloudEvent<unknown>): Promise<PassSummary[] | void> => {
    const msg = decode(event, refillMessage, logger());
    if (!msg) return;
    // An error propagates: Pub/Sub redelivers.
    const out = await handleReconcileRequest(await deps(), { pool: msg.data.pool, publishedAt: msg.publishedAt }, bootWatch);
    return out ?? undefined;
  };
}
