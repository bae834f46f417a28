/**
 * A claim's request that its pool refill: a message to the reconcile function, off the
 * answer path (never awaited by a claim), bounded, and a failure is only a WARNING. The
 * minute schedule is the safety net: reconcile tops the pool up anyway, so a lost request
 * only delays a refill. (On Cloud Run functions the CPU may be throttled once the answer
 * is sent; the publish then finishes late or is lost.)
 *
 * Coalesced per publisher and pool: at most one refill publish of a pool is in flight;
 * the requests that arrive meanwhile become ONE more publish, sent when it ends. They are
 * never folded into the publish in flight: its publish time may already precede them, and
 * reconcile treats a request as covered only by a pass that started after its publication
 * (refill.ts), so a pass covering that message might not see their claims. The trailing
 * publish is published after every request it stands for. Under load this turns one
 * publish per claim into about one per publish round trip.
 */
import type { Publisher } from '../ports.js';
import type { ApiDeps } from './deps.js';

/** How long a refill publish may take before it is given up (and logged). */
export const REFILL_PUBLISH_TIMEOUT_MS = 10_000;

/** Per publisher, per pool with a publish in flight: the reason of the trailing publish, if one is due. */
const inFlight = new WeakMap<Publisher, Map<string, { next: string | null }>>();

export function requestRefill(deps: Pick<ApiDeps, 'publisher' | 'logger'>, pool: string, reason: string, timeoutMs = REFILL_PUBLISH_TIMEOUT_MS): void {
  let pools = inFlight.get(deps.publisher);
  if (!pools) inFlight.set(deps.publisher, (pools = new Map()));
  const current = pools.get(pool);
  if (current) {
    current.next = reason;
    return;
  }
  const entry = { next: null as string | null };
  pools.set(pool, entry);
  const run = (why: string): void => {
    void publishBounded(deps, pool, why, timeoutMs).then(() => {
      const next = entry.next;
      if (next === null) {
        pools.delete(pool);
        return;
      }
      entry.next = null;
      run(next);
    });
  };
  run(reason);
}

/** One publish, given up after `timeoutMs`; resolves either way (a failure is logged). */
async function publishBounded(deps: Pick<ApiDeps, 'publisher' | 'logger'>, pool: string, reason: string, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`refill publish took more than ${timeoutMs} ms`)), timeoutMs);
    timer.unref?.();
  });
  try {
    await Promise.race([deps.publisher.publishRefill({ pool, reason }), timeout]);
  } catch (err) {
    deps.logger.warn('refill request not published; reconcile catches up', { pool, reason }, err);
  } finally {
    clearTimeout(timer);
  }
}
