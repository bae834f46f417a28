/** Claim labels: the labels a claimed machine carries in Compute Engine (warmth, assignee). */
import pLimit from 'p-limit';
import { WarmerError } from '../errors.js';
import type { InstanceRecord } from '../domain/instance.js';
import type { Machine } from '../domain/machine.js';
import type { Logger } from '../logging.js';
import type { ReconcileDeps } from './reconcile-deps.js';

/**
 * Claimed machines get their labels updated here, asynchronously, never on the claim path.
 * Best effort: a failure is retried on the next pass.
 */
export async function syncClaimLabels(deps: ReconcileDeps, records: InstanceRecord[], machines: Machine[], log: Logger) {
  const byName = new Map(machines.map((m) => [m.name, m]));
  const limit = pLimit(8);
  await Promise.all(
    records
      .filter((r) => r.state === 'claimed')
      .map((r) =>
        limit(async () => {
          const m = byName.get(r.name);
          if (!m) return;
          const assignee = labelValue(r.claim?.assignee ?? '');
          const want: Record<string, string> = { warmth: 'claimed', ...(assignee ? { 'warmer-assignee': assignee } : {}) };
          if (Object.entries(want).every(([k, v]) => m.labels[k] === v)) return;
          try {
            await deps.compute.setLabels(m.zone, m.name, want);
          } catch (err) {
            if (!(err instanceof WarmerError && err.code === 'not_found')) log.warn('label update failed; next pass retries', { instance: r.name }, err);
          }
        }),
      ),
  );
}

/** A string made into a Compute Engine label value (lowercase, [a-z0-9_-], ≤ 63). */
export function labelValue(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '_')
    .slice(0, 63);
}
