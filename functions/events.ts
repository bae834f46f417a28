/**
 * The Pub/Sub-driven functions: teardown, and reconcile (refill requests from claims and
 * teardowns, and the scheduler's tick). Returning acknowledges; throwing makes Pub/Sub
 * redeliver with backoff. A malformed message is logged and acknowledged.
 */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { z } from 'zod';
import { decodePubSubCloudEvent } from '../shared/adapters/pubsub-publisher.js';
import { WarmerError } from '../shared/errors.js';
import type { Logger } from '../shared/logging.js';
import { POOL_NAME } from '../shared/domain/pool-spec.js';
import { handleTeardown, type TeardownDeps } from '../shared/services/teardown.js';
import { reconcileAll, reconcilePool, watchBooting, type PassSummary, type ReconcileDeps } from '../shared/services/reconcile.js';

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
    logger.warn('malformed message acknowledged', { reason: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '), messageId: decoded.messageId });
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

export interface BootWatch {
  /** How long a refill-triggered pass keeps watching its booting machines. */
  budgetMs: number;
  intervalMs: number;
  /** Ends the watch early (the local stack stopping). */
  signal?: AbortSignal;
}

/** How long a refill request waits for another pass of its pool before asking for redelivery. */
const LEASE_WAIT_MS = 10_000;

export const DEFAULT_BOOT_WATCH: BootWatch = { budgetMs: 90_000, intervalMs: 1000 };

export function reconcileHandler(deps: () => Promise<ReconcileDeps>, logger: () => Logger, bootWatch: BootWatch = DEFAULT_BOOT_WATCH) {
  return async (event: CloudEvent<unknown>): Promise<PassSummary[] | void> => {
    const msg = decode(event, refillMessage, logger());
    if (!msg) return;
    const d = await deps();
    if (msg.data.pool === '*') return reconcileAll(d);
    const pool = msg.data.pool;
    // A pass that started after this request was published already covers it.
    const covered = async () => {
      if (msg.publishedAt === null) return false;
      const runtime = await d.runtime.getRuntime(pool);
      return runtime.lastPass !== null && runtime.lastPass.startedAt >= msg.publishedAt;
    };
    if (await covered()) return;
    let summary = await reconcilePool(d, pool);
    // Another pass holds the lease and may have planned before this request: wait for it
    // briefly (passes are short), then either it covered us or we run our own.
    const deadline = Date.now() + LEASE_WAIT_MS;
    while (summary.outcome === 'skipped_lease' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 150));
      if (await covered()) return;
      summary = await reconcilePool(d, pool);
    }
    if (summary.outcome === 'skipped_lease') {
      // Still busy: let Pub/Sub redeliver with backoff.
      throw new WarmerError('contention', `pool ${pool} is being reconciled; refill request retried`);
    }
    if (summary.outcome === 'done' && bootWatch.budgetMs > 0) await watchBooting(d, pool, bootWatch.budgetMs, bootWatch.intervalMs, bootWatch.signal);
    return [summary];
  };
}
