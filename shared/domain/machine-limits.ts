/**
 * What one machine of a pool counts against Compute Engine's limits: its vCPUs (for
 * quota headroom) and the maximum run duration it is created with.
 */
import type { PoolSpec } from './pool-spec.js';
import { lastSegment } from './resource-path.js';

/** vCPUs of a machine type, for quota headroom. Unknown shapes count as 2. */
export function cpusOf(spec: PoolSpec): number {
  if (spec.cpusPerMachine !== null) return spec.cpusPerMachine;
  const type = lastSegment(spec.machineType);
  const custom = /^(?:[a-z0-9]+-)?custom-(\d+)-\d+/.exec(type);
  if (custom) return Number(custom[1]);
  const sized = /-(\d+)$/.exec(type);
  if (sized) return Number(sized[1]);
  if (/^(e2|f1|g1)-(micro|small|medium)$/.test(type)) return type.startsWith('e2') ? 2 : 1;
  return 2;
}

/** Compute Engine's own limit on scheduling.maxRunDuration: 120 days. */
const MAX_RUN_DURATION_LIMIT_S = 120 * 24 * 3600;
/** Slack on a derived maximum run duration, so warmer's own teardown always comes first. */
const MAX_RUN_DURATION_SLACK_S = 3600;

/**
 * The maximum run duration a machine of this pool is created with (Compute Engine then
 * deletes it by itself, even if warmer is down): the pool's own setting, else — when
 * the pool bounds every phase of a machine's life — boot timeout + max idle age + claim
 * lifetime + an hour. null when some phase is unbounded (long-lived assignments).
 */
export function effectiveMaxRunDurationSeconds(spec: PoolSpec): number | null {
  if (spec.maxRunDurationSeconds !== null) return spec.maxRunDurationSeconds;
  if (spec.maxIdleAgeSeconds === null || spec.claimLifetimeSeconds === null) return null;
  const derived = spec.bootTimeoutSeconds + spec.maxIdleAgeSeconds + spec.claimLifetimeSeconds + MAX_RUN_DURATION_SLACK_S;
  return Math.min(derived, MAX_RUN_DURATION_LIMIT_S);
}
