/**
 * Claim access: an assignee's SSH keys reach the machine here, in reconcile, never on
 * the claim path (like claim labels, claim-labels.ts). For every claimed record whose
 * access is `pending`, the machine's `ssh-keys` metadata gains the assignee's keys and
 * loses earlier assignees' (the pool's admin keys stay); then the record is marked
 * `applied`, compare-and-set on the access version, so a reassignment made meanwhile
 * stays pending and is applied by the next pass. Best effort: a failure is retried then.
 */
import pLimit from 'p-limit';
import { WarmerError } from '../errors.js';
import { accessApplied, pendingKeyChange } from '../domain/assignment.js';
import type { InstanceRecord } from '../domain/instance.js';
import type { Machine } from '../domain/machine.js';
import type { Logger } from '../logging.js';
import type { ReconcileDeps } from './reconcile-deps.js';

export async function syncClaimAccess(deps: ReconcileDeps, records: InstanceRecord[], machines: Machine[], log: Logger): Promise<number> {
  const assignments = deps.assignments;
  if (!assignments) return 0;
  const byName = new Map(machines.map((m) => [m.name, m]));
  const limit = pLimit(8);
  let applied = 0;
  await Promise.all(
    records.map((r) =>
      limit(async () => {
        const change = pendingKeyChange(r);
        const m = byName.get(r.name);
        if (!change || !m) return;
        try {
          await deps.compute.updateSshKeys(m.zone, m.name, change);
          const res = await assignments.modify(r.name, (current) => accessApplied(current, change.version, deps.clock.now()));
          if (res?.after) {
            applied++;
            log.info('assignee access applied', {
              instance: r.name,
              assignee: r.claim?.assignee ?? null,
              added: change.add.length,
              removed: change.remove.length,
            });
          }
        } catch (err) {
          if (!(err instanceof WarmerError && err.code === 'not_found')) log.warn('ssh-keys update failed; next pass retries', { instance: r.name }, err);
        }
      }),
    ),
  );
  return applied;
}
