/**
 * The status page's data: per pool, machines by state (count() queries), target and
 * maxSize, claims served warm vs missed per 5-minute bucket over the last hour, time to
 * ready (p50/p90) over the same hour, and the most recent teardowns with their reasons.
 *
 * One history query for every pool (`at >=` the window's start), grouped here. The
 * window is aligned to whole buckets so the bars stay put between refreshes: it ends at
 * the end of the current (partial) bucket and spans WINDOW_BUCKETS buckets.
 * History is best effort: without a history store, or when reading it fails, the page
 * still gets the live counts and says the history is missing.
 */
import { INSTANCE_STATES, type InstanceState } from '../domain/instance.js';
import type { HistoryEvent, HistoryStore } from '../history.js';
import { claimedMachines, type DashboardAssignment } from './dashboard-assignments.js';
import type { SizingStore, StoredDecision } from '../sizing-store.js';

/** What the status page summarizes: the recorded history, plus served claims read from their receipts. */
export type ActivityEvent = HistoryEvent | { type: 'claim_hit'; pool: string; at: number; count: number };
import type { Logger } from '../logging.js';
import type { AssignmentStore, Clock, InstanceStore, PoolStore } from '../ports.js';

export const BUCKET_MS = 5 * 60_000;
export const WINDOW_BUCKETS = 12;
export const RECENT_TEARDOWNS = 20;
/** Boot-time samples sent per pool (the newest), for the chart. */
export const READY_SAMPLES = 200;

export interface DashboardDeps {
  pools: PoolStore;
  /** Sized pools' computed targets (optional). */
  sizing?: SizingStore;
  instances: InstanceStore;
  clock: Clock;
  logger: Logger;
  history?: HistoryStore;
  /** For the claimed machines' section (dashboard-assignments.ts). */
  assignments?: AssignmentStore;
}

export interface ClaimBucket {
  /** Epoch ms; the bucket covers [start, start + BUCKET_MS). */
  start: number;
  /** Claim requests served from warm machines. */
  hits: number;
  /** Claim requests that found the pool short. */
  misses: number;
}

export interface PoolHistorySummary {
  claims: { buckets: ClaimBucket[]; hits: number; misses: number; machinesServed: number };
  timeToReady: { count: number; p50Ms: number | null; p90Ms: number | null; samples: Array<{ at: number; durationMs: number }> };
  /** Newest first. */
  teardowns: Array<{ at: number; instance: string | null; reason: string | null }>;
}

export interface DashboardPool extends PoolHistorySummary {
  name: string;
  enabled: boolean;
  targetReady: number | 'fill';
  maxSize: number;
  /** A sized pool's computed target and the inputs that drove it; null for a fixed pool or before the first pass. */
  sizing: Pick<StoredDecision, 'target' | 'mode' | 'computedAt' | 'why'> | null;
  counts: Record<InstanceState, number>;
  /** Machines in any live state (what maxSize caps). */
  live: number;
}

export interface Dashboard {
  generatedAt: number;
  window: { start: number; end: number; bucketMs: number };
  /** 'none': no history store is configured; 'unavailable': reading it failed. */
  history: 'ok' | 'none' | 'unavailable';
  pools: DashboardPool[];
  /** Claimed machines with assignee, age and expiry; null when they could not be listed. */
  assignments: DashboardAssignment[] | null;
}

export function dashboardWindow(now: number): { start: number; end: number; bucketMs: number } {
  const end = (Math.floor(now / BUCKET_MS) + 1) * BUCKET_MS;
  return { start: end - WINDOW_BUCKETS * BUCKET_MS, end, bucketMs: BUCKET_MS };
}

/** Nearest-rank percentile of ascending values; null when there are none. */
export function percentile(sortedAsc: readonly number[], p: number): number | null {
  if (sortedAsc.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sortedAsc.length));
  return sortedAsc[Math.min(rank, sortedAsc.length) - 1]!;
}

/** Pure: one pool's events (any order) summarized over the window. */
export function summarizeHistory(events: readonly ActivityEvent[], window: { start: number; end: number; bucketMs: number }): PoolHistorySummary {
  const buckets: ClaimBucket[] = Array.from({ length: Math.round((window.end - window.start) / window.bucketMs) }, (_, i) => ({
    start: window.start + i * window.bucketMs,
    hits: 0,
    misses: 0,
  }));
  let machinesServed = 0;
  const ready: Array<{ at: number; durationMs: number }> = [];
  const teardowns: PoolHistorySummary['teardowns'] = [];
  for (const e of events) {
    if (e.at < window.start || e.at >= window.end) continue;
    const bucket = buckets[Math.floor((e.at - window.start) / window.bucketMs)]!;
    if (e.type === 'claim_hit') {
      bucket.hits++;
      machinesServed += e.count ?? 1;
    } else if (e.type === 'claim_miss') {
      bucket.misses++;
    } else if (e.type === 'ready' && typeof e.durationMs === 'number') {
      ready.push({ at: e.at, durationMs: e.durationMs });
    } else if (e.type === 'teardown') {
      teardowns.push({ at: e.at, instance: e.instance ?? null, reason: e.reason ?? null });
    }
  }
  const durations = ready.map((r) => r.durationMs).sort((a, b) => a - b);
  ready.sort((a, b) => a.at - b.at);
  teardowns.sort((a, b) => b.at - a.at);
  return {
    claims: {
      buckets,
      hits: buckets.reduce((n, b) => n + b.hits, 0),
      misses: buckets.reduce((n, b) => n + b.misses, 0),
      machinesServed,
    },
    timeToReady: { count: durations.length, p50Ms: percentile(durations, 50), p90Ms: percentile(durations, 90), samples: ready.slice(-READY_SAMPLES) },
    teardowns: teardowns.slice(0, RECENT_TEARDOWNS),
  };
}

async function readDecision(deps: DashboardDeps, pool: string, sized: boolean): Promise<StoredDecision | null> {
  if (!sized || !deps.sizing) return null;
  try {
    return await deps.sizing.decision(pool);
  } catch (err) {
    deps.logger.warn('sizing decision not read; status page shows the spec target', { pool }, err);
    return null;
  }
}

export async function buildDashboard(deps: DashboardDeps): Promise<Dashboard> {
  const now = deps.clock.now();
  const window = dashboardWindow(now);
  const readHistory = async (): Promise<{ status: Dashboard['history']; events: HistoryEvent[] }> => {
    if (!deps.history) return { status: 'none', events: [] };
    try {
      return { status: 'ok', events: await deps.history.since(null, window.start) };
    } catch (err) {
      deps.logger.warn('history not read; status page shows live counts only', {}, err);
      return { status: 'unavailable', events: [] };
    }
  };
  // Served claims come from the claims' receipts (the claim path writes no history for
  // them); misses, ready times and teardowns from the history.
  const readServed = async (): Promise<ActivityEvent[]> => {
    try {
      return (await deps.instances.claimsSince(window.start)).map((c) => ({ type: 'claim_hit', pool: c.pool, at: c.at, count: c.count }));
    } catch (err) {
      deps.logger.warn('claim receipts not read; status page shows no warm claims', {}, err);
      return [];
    }
  };
  const [pools, history, served] = await Promise.all([deps.pools.listPools(), readHistory(), readServed()]);
  const byPool = new Map<string, ActivityEvent[]>();
  for (const e of [...history.events, ...served]) {
    const list = byPool.get(e.pool);
    if (list) list.push(e);
    else byPool.set(e.pool, [e]);
  }
  const perPool = await Promise.all(
    pools.map(async (pool): Promise<DashboardPool> => {
      const [counts, sizing] = await Promise.all([deps.instances.countByState(pool.name), readDecision(deps, pool.name, pool.spec.sizing !== undefined)]);
      return {
        name: pool.name,
        enabled: pool.spec.enabled,
        targetReady: pool.spec.targetReady,
        maxSize: pool.spec.maxSize,
        sizing: sizing ? { target: sizing.target, mode: sizing.mode, computedAt: sizing.computedAt, why: sizing.why } : null,
        counts,
        live: INSTANCE_STATES.filter((s) => s !== 'deleted').reduce((n, s) => n + counts[s], 0),
        ...summarizeHistory(byPool.get(pool.name) ?? [], window),
      };
    }),
  );
  return { generatedAt: now, window, history: history.status, pools: perPool, assignments: await claimedMachines(deps) };
}

// ───────────────────────────── short cache ─────────────────────────────

/**
 * How long `GET /status` and the status page's data are served from memory. Under 150
 * concurrent requests each one ran 8 count() queries per pool plus the history reads
 * (8.9 s p50); with this, concurrent and back-to-back requests share one computation,
 * so the queries per second are bounded by the pools, not by the request rate.
 */
export const STATUS_CACHE_MS = 1500;

interface Flight<T> {
  at: number;
  value: Promise<T>;
}

/** One computation per `ttlMs` per deps object (deps are built once per process), shared by concurrent callers. */
function singleFlight<D extends { clock: Clock }, T>(compute: (deps: D) => Promise<T>, ttlMs: number): (deps: D) => Promise<T> {
  const flights = new WeakMap<D, Flight<T>>();
  return (deps) => {
    const now = deps.clock.now();
    const f = flights.get(deps);
    if (f && now - f.at < ttlMs) return f.value;
    const value = compute(deps);
    flights.set(deps, { at: now, value });
    // A failure is not cached: the next request tries again.
    value.catch(() => {
      if (flights.get(deps)?.value === value) flights.delete(deps);
    });
    return value;
  };
}

/** `buildDashboard`, computed at most once per STATUS_CACHE_MS (concurrent callers share it). */
export const cachedDashboard = singleFlight(buildDashboard, STATUS_CACHE_MS);

/** Wraps any status computation in the same short cache (the `GET /status` route's). */
export const cachedStatus = <D extends { clock: Clock }, T>(compute: (deps: D) => Promise<T>) => singleFlight(compute, STATUS_CACHE_MS);
