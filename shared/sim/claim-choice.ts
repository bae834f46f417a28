/** The simulated claim's choice of machine. */
import type { InstanceRecord } from '../domain/instance.js';

/**
 * Which ready machine a claim takes: the oldest ready first (DESIGN.md "Claim").
 * Local stand-in: the shared SDK-free candidate selection should replace it once merged.
 */
export function pickOldestReady(records: readonly InstanceRecord[]): InstanceRecord | null {
  let best: InstanceRecord | null = null;
  for (const r of records) {
    if (r.state !== 'ready') continue;
    if (best === null) {
      best = r;
      continue;
    }
    const a = r.stateChangedAt.ready ?? r.createdAt;
    const b = best.stateChangedAt.ready ?? best.createdAt;
    if (a < b || (a === b && r.name < best.name)) best = r;
  }
  return best;
}
