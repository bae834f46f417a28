/**
 * What demand sizing could reach at best on a trace: the production policy started with a
 * history that already holds the whole trace's claims (its hour-of-week profile, burst sizes
 * and peaks), so it knows in advance how busy every hour will be. No real pool knows that;
 * the gap between this and the learned policy is what learning costs, and the gap between
 * this and the cheapest fixed target is the most the trace's shape lets sizing save.
 */
import { emptyHistory, recordClaim, rollHistory, type DemandHistory } from '../domain/sizing.js';
import type { TraceJob } from './trace.js';

const WEEK_MS = 7 * 86_400_000;

/**
 * The trace's claims folded into a history that ends just before the trace starts: shifted
 * back by whole weeks (so every claim keeps its hour of the week), each counted as served
 * warm and with no prediction (so the aim is not calibrated by them).
 */
export function foresightHistory(jobs: readonly TraceJob[]): DemandHistory {
  const first = jobs[0]?.startMs;
  const last = jobs.at(-1)?.startMs;
  if (first === undefined || last === undefined) return emptyHistory();
  const shift = (Math.floor((last - first) / WEEK_MS) + 1) * WEEK_MS;
  let h = emptyHistory();
  for (const j of jobs) h = recordClaim(h, j.startMs - shift, { count: 1, warm: 1 });
  return rollHistory(h, first - 3_600_000);
}
