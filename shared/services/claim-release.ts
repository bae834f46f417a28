/**
 * Releasing and looking up claimed machines, as their principal (or an admin) sees them;
 * and giving back machines claimed for a caller that will never read the answer.
 */
import { randomUUID } from 'node:crypto';
import { WarmerError } from '../errors.js';
import type { InstanceRecord, InstanceState } from '../domain/instance.js';
import type { Caller } from '../auth.js';
import type { ApiDeps } from './deps.js';

const RELEASABLE_BY_ADMIN: readonly InstanceState[] = ['creating', 'booting', 'ready', 'claimed', 'unhealthy', 'failed'];

export interface ReleaseResult {
  instance: InstanceRecord;
  alreadyReleased: boolean;
}

/**
 * Gives a machine back: it is torn down and its pool refills. A claim token may release
 * only claimed machines; an admin token any live one. Releasing twice is harmless.
 */
export async function releaseInstance(deps: ApiDeps, name: string, caller: Caller, reason = 'released'): Promise<ReleaseResult> {
  const now = deps.clock.now();
  const current = visibleTo(await deps.instances.get(name), caller);
  if (!current) throw notFound(name);
  const by = caller.role;
  if (current.state === 'deleting' || current.state === 'deleted') return { instance: current, alreadyReleased: true };
  const from = by === 'admin' ? RELEASABLE_BY_ADMIN : (['claimed'] as const);
  if (!from.includes(current.state)) {
    throw new WarmerError('conflict', `instance "${name}" is ${current.state}, not claimed; only claimed machines can be released with a claim token`);
  }
  const next = await deps.instances.transition(name, from, 'deleting', now, { reason, deleteRequestId: randomUUID() });
  if (!next) {
    // Lost a race: someone else moved it. Report what it is now.
    const again = await deps.instances.get(name);
    if (again && (again.state === 'deleting' || again.state === 'deleted')) return { instance: again, alreadyReleased: true };
    throw new WarmerError('conflict', `instance "${name}" changed state while releasing (now ${again?.state ?? 'gone'}); retry`);
  }
  try {
    await deps.publisher.publishTeardown({ instance: name, pool: next.pool, reason });
  } catch (err) {
    // The record is `deleting`: reconcile re-publishes teardowns that sit there too long.
    deps.logger.warn('teardown not published; reconcile will retry', { instance: name, pool: next.pool }, err);
  }
  deps.logger.info('instance released', { instance: name, pool: next.pool, reason, by, principal: caller.principal });
  return { instance: next, alreadyReleased: false };
}

/** The same answer for a machine that does not exist and one the caller may not see. */
const notFound = (name: string) => new WarmerError('not_found', `instance "${name}" does not exist`);

/**
 * A record as the caller may see it: admin tokens see every machine; a claim token only
 * the machines its own principal claimed (ready machines and other principals' claims
 * are, to it, machines that do not exist).
 */
export function visibleTo(r: InstanceRecord | null, caller: Caller): InstanceRecord | null {
  if (!r) return null;
  if (caller.role === 'admin') return r;
  return r.claim !== null && r.claim.principal === caller.principal ? r : null;
}

export async function getInstance(deps: ApiDeps, name: string, caller: Caller): Promise<InstanceRecord> {
  const r = visibleTo(await deps.instances.get(name), caller);
  if (!r) throw notFound(name);
  return r;
}

/** Gives back machines claimed for a caller that will never read the answer. */
export async function releaseUnanswered(
  deps: ApiDeps,
  pool: string,
  instances: InstanceRecord[],
  caller: Caller,
  reason: 'answer_late' | 'client_gone' | 'no_key',
): Promise<void> {
  const released = await Promise.allSettled(instances.map((i) => releaseInstance(deps, i.name, caller, reason)));
  released.forEach((r, k) => {
    // Still claimed: it goes when its claim lifetime ends, if the pool sets one.
    const message =
      reason === 'answer_late'
        ? 'late claim not released'
        : reason === 'client_gone'
          ? 'claim of a departed client not released'
          : 'keyless claim not released';
    if (r.status === 'rejected') deps.logger.error(message, { pool, instance: instances[k]!.name, reason }, r.reason);
  });
}
