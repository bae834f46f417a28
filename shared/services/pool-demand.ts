/**
 * A pool's recorded demand as a job trace, for `warmer simulate --pool NAME` against a
 * running warmer: what the pool would have cost, and how often jobs would have waited,
 * with target N or with demand sizing.
 *
 * Served claims are the pool's records that were claimed (claimedAt → the start of their
 * teardown, or now while still held); records of deleted machines are kept 30 days.
 * Missed claims (claim_miss events, kept 7 days) had no machine, so their jobs are given
 * the median duration of the served ones.
 */
import { WarmerError } from '../errors.js';
import type { ApiDeps } from './deps.js';

const DAY_MS = 86_400_000;
export const MAX_DEMAND_DAYS = 30;
/** A missed claim's job duration when no served job is known. */
const DEFAULT_MISSED_DURATION_S = 600;

export interface DemandJob {
  /** Epoch seconds the machine was wanted. */
  startedEpoch: number;
  durationS: number;
  /** Served from a ready machine (false: the claim missed). */
  warm: boolean;
}

export interface PoolDemand {
  pool: string;
  since: number;
  until: number;
  jobs: DemandJob[];
  /** The duration given to missed claims' jobs. */
  missedDurationS: number;
}

export async function poolDemand(deps: ApiDeps, name: string, days: number): Promise<PoolDemand> {
  if (!Number.isFinite(days) || days <= 0 || days > MAX_DEMAND_DAYS)
    throw new WarmerError('bad_request', `days must be a number above 0 and at most ${MAX_DEMAND_DAYS}`);
  const pool = await deps.pools.getPool(name);
  if (!pool) throw new WarmerError('not_found', `pool "${name}" does not exist`);
  const until = deps.clock.now();
  const since = until - days * DAY_MS;
  const [records, events] = await Promise.all([deps.instances.listByPool(name), deps.history ? deps.history.since(name, since) : Promise.resolve([])]);
  const served: DemandJob[] = [];
  for (const r of records) {
    const at = r.claim?.claimedAt;
    if (at === undefined || at < since) continue;
    const end = r.stateChangedAt.deleting ?? r.stateChangedAt.deleted ?? until;
    served.push({ startedEpoch: Math.floor(at / 1000), durationS: Math.max(0, Math.round((end - at) / 1000)), warm: true });
  }
  const durations = served.map((j) => j.durationS).sort((a, b) => a - b);
  const missedDurationS = durations.length > 0 ? (durations[Math.floor((durations.length - 1) / 2)] as number) : DEFAULT_MISSED_DURATION_S;
  const missed: DemandJob[] = events
    .filter((e) => e.type === 'claim_miss')
    .flatMap((e) =>
      Array.from({ length: Math.max(1, e.count ?? 1) }, () => ({ startedEpoch: Math.floor(e.at / 1000), durationS: missedDurationS, warm: false })),
    );
  const jobs = [...served, ...missed].sort((a, b) => a.startedEpoch - b.startedEpoch);
  return { pool: name, since, until, jobs, missedDurationS };
}
