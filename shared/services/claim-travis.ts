/** Travis worker compatibility: POST /request-instance claims from a pool matching the worker's request. */
import { WarmerError } from '../errors.js';
import type { InstanceRecord } from '../domain/instance.js';
import type { Pool } from '../domain/pool-spec.js';
import { lastSegment } from '../domain/resource-path.js';
import type { Caller } from '../auth.js';
import type { ApiDeps } from './deps.js';
import { claimInstances, type ClaimOptions } from './claim.js';
import { releaseUnanswered } from './claim-release.js';

export interface TravisRequest {
  imageName: string;
  machineType: string;
  publicIp: boolean;
}

/**
 * Pools that serve a Travis request: enabled, with per-machine SSH keys (the worker
 * decrypts the key it is handed; without one its start step returns nothing and it
 * panics), the same image and machine type (last path segments) and public/private.
 */
export function matchTravisPools(pools: Pool[], req: TravisRequest): Pool[] {
  return matchTravisShape(pools, req).filter((p) => p.spec.perMachineSshKeys);
}

function matchTravisShape(pools: Pool[], req: TravisRequest): Pool[] {
  const image = lastSegment(req.imageName);
  const type = lastSegment(req.machineType);
  return pools.filter(
    (p) => p.spec.enabled && lastSegment(p.spec.image) === image && lastSegment(p.spec.machineType) === type && p.spec.publicIp === req.publicIp,
  );
}

export type TravisOutcome =
  /** `unkeyed`: pools that match but have no per-machine keys, so cannot serve the worker. */
  { kind: 'no_pool'; unkeyed: string[] } | { kind: 'empty'; pool: string } | { kind: 'claimed'; instance: InstanceRecord };

/**
 * The worker waits 5 s by default (FACTS.md), then boots its own VM and never reads our
 * answer; it sends no request id, so a machine claimed after that would be lost to it.
 * Answers are due within this budget (WARMER_TRAVIS_ANSWER_BUDGET_MS); a machine claimed
 * later is released at once. The refill publish is off the answer path (requestRefill).
 */
export const TRAVIS_ANSWER_BUDGET_MS = 4000;

export async function requestInstanceTravis(
  deps: ApiDeps,
  req: TravisRequest,
  caller: Caller,
  budgetMs = TRAVIS_ANSWER_BUDGET_MS,
  options: Pick<ClaimOptions, 'clientGone'> = {},
): Promise<TravisOutcome> {
  const started = deps.clock.now();
  const all = await deps.pools.listPools();
  const candidates = matchTravisPools(all, req);
  if (candidates.length === 0) return { kind: 'no_pool', unkeyed: matchTravisShape(all, req).map((p) => p.name) };
  for (const pool of candidates) {
    const left = budgetMs - (deps.clock.now() - started);
    if (left <= 0) break;
    try {
      const res = await claimInstances(
        deps,
        { pool: pool.name, principal: caller.principal, requestId: null, assignee: 'travis-worker', labels: {}, count: 1 },
        { ...options, answerWithinMs: left },
      );
      const instance = res.instances[0]!;
      if (!instance.sshPrivateKeyEncrypted) {
        // A keyed pool's machine without its key (made before the pool was keyed): the
        // worker could not use it. Give it back and try the next pool.
        deps.logger.warn('claimed machine has no per-machine key; released', { pool: pool.name, instance: instance.name });
        await releaseUnanswered(deps, pool.name, [instance], caller, 'no_key');
        continue;
      }
      return { kind: 'claimed', instance };
    } catch (err) {
      if (err instanceof WarmerError && (err.code === 'pool_empty' || err.code === 'pool_disabled')) continue;
      throw err;
    }
  }
  return { kind: 'empty', pool: candidates[0]!.name };
}
