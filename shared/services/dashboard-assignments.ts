/** The status page's assignments: claimed machines with assignee, age and expiry. */
import type { AssignmentStore } from '../ports.js';
import type { Logger } from '../logging.js';

/** At most this many claimed machines are shown (the oldest claims first after sorting). */
export const DASHBOARD_ASSIGNMENTS = 200;

export interface DashboardAssignment {
  name: string;
  pool: string;
  assignee: string | null;
  principal: string | null;
  /** Epoch ms. */
  claimedAt: number;
  /** Epoch ms; null: no expiry. */
  expiresAt: number | null;
  address: string | null;
  access: 'pending' | 'applied' | null;
}

/** Claimed machines, longest-held first; null when no assignment store is configured or it failed. */
export async function claimedMachines(deps: { assignments?: AssignmentStore; logger: Logger }): Promise<DashboardAssignment[] | null> {
  if (!deps.assignments) return null;
  try {
    const page = await deps.assignments.list({ states: ['claimed'], limit: DASHBOARD_ASSIGNMENTS });
    return page.records
      .map((r) => ({
        name: r.name,
        pool: r.pool,
        assignee: r.claim?.assignee ?? null,
        principal: r.claim?.principal ?? null,
        claimedAt: r.claim?.claimedAt ?? r.updatedAt,
        expiresAt: r.claim?.expiresAt ?? null,
        address: r.publicIp ?? r.ip,
        access: r.claim?.access?.state ?? null,
      }))
      .sort((a, b) => a.claimedAt - b.claimedAt);
  } catch (err) {
    deps.logger.warn('status page: claimed machines could not be listed', {}, err);
    return null;
  }
}
