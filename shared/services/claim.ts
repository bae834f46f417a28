/**
 * Claim, release and look up machines. No Compute Engine call sits on this path: the
 * claim is one Firestore transaction; refills and teardowns go out as messages.
 */
import { randomUUID } from 'node:crypto';
import { WarmerError } from '../errors.js';
import type { ClaimOutcome } from '../domain/claim.js';
import type { InstanceRecord } from '../domain/instance.js';
import type { Pool } from '../domain/pool-spec.js';
import type { Caller } from '../auth.js';
import { recordHistory } from '../history.js';
import type { ApiDeps } from './deps.js';
import { checkClaimed } from './claim-check.js';
import { releaseUnanswered } from './claim-release.js';
import { assertReplayLive } from './claim-replay.js';
import { requestRefill } from './refill-requests.js';

// The claim's neighbours, re-exported where callers have always found them.
export { getInstance, releaseInstance, type ReleaseResult } from './claim-release.js';
export { matchTravisPools, requestInstanceTravis, TRAVIS_ANSWER_BUDGET_MS, type TravisOutcome, type TravisRequest } from './claim-travis.js';
export { REFILL_PUBLISH_TIMEOUT_MS, requestRefill } from './refill-requests.js';

export interface ClaimInput {
  pool: string;
  /** The claimer's principal: it owns the machines, and its request ids are its own. */
  principal: string;
  requestId: string | null;
  assignee: string | null;
  labels: Record<string, string>;
  count: number;
  /** The assignee's public SSH keys (added to the machine by reconcile, off this path). */
  sshKeys?: string[];
  /** The claim's own lifetime in seconds, instead of the pool's claimLifetimeSeconds. */
  lifetimeSeconds?: number;
}

export interface ClaimResult {
  pool: Pool;
  instances: InstanceRecord[];
  replayed: boolean;
}

export interface ClaimOptions {
  /**
   * How long the caller waits for an answer, in ms. The store stops waiting for other
   * claims within it, and machines claimed after it has passed are released at once
   * (reason `answer_late`) and the claim answered as empty: a client that has stopped
   * listening would never use them, and without a request id could never find them again.
   */
  answerWithinMs?: number;
  /**
   * True once the client has hung up. Machines claimed for a client that is gone are
   * released at once (reason `client_gone`): without a request id it could never find
   * them again, and in a pool without a claim lifetime they would stay claimed forever.
   */
  clientGone?: () => boolean;
}

/**
 * The pool a claim is checked against, and whether it came from a cache past its TTL
 * (then the claim's transaction verifies it). A stale spec that would refuse the claim is
 * read again first: a refusal is never decided by a stale spec either.
 */
async function lookUpPool(deps: ApiDeps, input: ClaimInput, fresh = false): Promise<{ pool: Pool; stale: boolean }> {
  const source = deps.claimPools ?? deps.pools;
  // Fresh: getPool reads an entry past its TTL again (into the cache).
  let { pool, stale } = fresh
    ? { pool: await source.getPool(input.pool), stale: false }
    : source.getPoolForClaim
      ? await source.getPoolForClaim(input.pool)
      : { pool: await source.getPool(input.pool), stale: false };
  if (stale && pool && input.count > pool.spec.maxSize) ({ pool, stale } = { pool: await source.getPool(input.pool), stale: false });
  if (!pool) throw new WarmerError('not_found', `pool "${input.pool}" does not exist`);
  if (!pool.spec.enabled) throw new WarmerError('pool_disabled', `pool "${input.pool}" is disabled`);
  if (input.count > pool.spec.maxSize) {
    throw new WarmerError('bad_request', `count ${input.count} exceeds the pool's maxSize (${pool.spec.maxSize})`);
  }
  return { pool, stale };
}

export async function claimInstances(deps: ApiDeps, input: ClaimInput, options: ClaimOptions = {}): Promise<ClaimResult> {
  const started = deps.clock.now();
  // The candidate read needs only the pool's name: it overlaps the pool lookup (a pool
  // that turns out missing or disabled costs one wasted read).
  if (input.count > 0) deps.instances.prefetchCandidates?.(input.pool);
  const looked = await lookUpPool(deps, input);
  let pool = looked.pool;
  const requestId = input.requestId ?? randomUUID();
  const claimWith = (checked: Pool, verify: boolean) =>
    deps.instances.claim({
      pool: checked.name,
      principal: input.principal,
      requestId,
      assignee: input.assignee,
      labels: input.labels,
      ...(input.sshKeys && input.sshKeys.length > 0 ? { sshKeys: input.sshKeys } : {}),
      count: input.count,
      lifetimeSeconds: input.lifetimeSeconds ?? checked.spec.claimLifetimeSeconds,
      now: started,
      ...(options.answerWithinMs === undefined ? {} : { maxWaitMs: Math.max(0, options.answerWithinMs - (deps.clock.now() - started)) }),
      ...(verify ? { poolVersion: checked.updatedAt } : {}),
    });
  let outcome = await claimWith(pool, looked.stale);
  if (outcome.kind === 'claimed' && !outcome.replayed && looked.stale) (deps.claimPools ?? deps.pools).confirmPool?.(pool.name, pool.updatedAt);
  if (outcome.kind === 'pool_changed') {
    // The cached spec was out of date: check the claim against the stored one, then claim on it.
    pool = (await lookUpPool(deps, input, true)).pool;
    outcome = await claimWith(pool, false);
    if (outcome.kind === 'pool_changed') throw new WarmerError('internal', 'the store answered pool_changed to a claim that did not ask it to verify');
  }
  if (outcome.kind === 'mismatch') {
    throw new WarmerError('idempotency_key_reused', `request id "${requestId}" was used for a different claim; use a new request id`, {
      details: { requestId, original: outcome.original },
    });
  }
  if (outcome.kind === 'claimed' && outcome.replayed) assertReplayLive(outcome.instances, input.count, requestId);
  const result: ClaimOutcome & { kind: 'claimed' | 'empty' } =
    outcome.kind === 'claimed' && !outcome.replayed && pool.spec.claimCheck.enabled
      ? await checkClaimed(deps, pool, { ...input, requestId }, outcome.instances)
      : outcome;
  const caller: Caller = { role: 'claim', principal: input.principal };
  const elapsed = deps.clock.now() - started;
  if (result.kind === 'claimed' && !result.replayed && options.answerWithinMs !== undefined && elapsed > options.answerWithinMs) {
    // Too late for this caller: give the machines back rather than leak them (the Travis
    // warmer leaked every machine it answered with after the worker's timeout).
    deps.logger.warn('claim answered too late; machines released', {
      pool: pool.name,
      instances: result.instances.map((i) => i.name),
      durationMs: elapsed,
      answerWithinMs: options.answerWithinMs,
    });
    await releaseUnanswered(deps, pool.name, result.instances, caller, 'answer_late');
    throw new WarmerError('pool_empty', `pool "${pool.name}" could not answer within ${options.answerWithinMs} ms (took ${elapsed} ms)`, {
      details: { available: 0, requested: input.count, durationMs: elapsed },
    });
  }
  if (result.kind === 'claimed' && !result.replayed && options.clientGone?.() === true) {
    deps.logger.warn('client went away before the answer; machines released', {
      pool: pool.name,
      instances: result.instances.map((i) => i.name),
      durationMs: elapsed,
    });
    await releaseUnanswered(deps, pool.name, result.instances, caller, 'client_gone');
    throw new WarmerError('conflict', 'the client closed the connection before the answer; the claimed machines were released');
  }
  if (result.kind === 'empty') {
    requestRefill(deps, pool.name, 'empty');
    await recordHistory(deps.history, deps.logger, { type: 'claim_miss', pool: pool.name, at: started, count: input.count });
    deps.logger.warn('claim missed: pool empty', { pool: pool.name, requested: input.count, available: result.available, requestId });
    throw new WarmerError('pool_empty', `pool "${pool.name}" has ${result.available} ready machine(s); ${input.count} requested`, {
      details: { available: result.available, requested: input.count },
    });
  }
  // A served claim needs no history write: its receipt (written in the claim's own
  // transaction) is what the status page counts.
  if (!result.replayed) requestRefill(deps, pool.name, 'claimed');
  deps.logger.info(result.replayed ? 'claim replayed' : 'claim served', {
    pool: pool.name,
    instances: result.instances.map((i) => i.name),
    requestId,
    assignee: input.assignee,
    durationMs: deps.clock.now() - started,
  });
  return { pool, instances: result.instances, replayed: result.replayed };
}
