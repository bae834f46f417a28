/**
 * Claim, release and look up machines. No Compute Engine call sits on this path: the
 * claim is one Firestore transaction; refills and teardowns go out as messages.
 */
import { randomUUID } from 'node:crypto';
import { WarmerError } from '../errors.js';
import type { InstanceRecord, InstanceState } from '../domain/instance.js';
import { lastSegment, type Pool } from '../domain/pool-spec.js';
import type { TokenKind } from '../auth.js';
import { recordHistory } from '../history.js';
import type { ApiDeps } from './deps.js';

export interface ClaimInput {
  pool: string;
  requestId: string | null;
  assignee: string | null;
  labels: Record<string, string>;
  count: number;
}

export interface ClaimResult {
  pool: Pool;
  instances: InstanceRecord[];
  replayed: boolean;
}

async function requestRefill(deps: ApiDeps, pool: string, reason: string): Promise<void> {
  try {
    await deps.publisher.publishRefill({ pool, reason });
  } catch (err) {
    // The minute schedule is the safety net; a lost refill request only delays a top-up.
    deps.logger.warn('refill request not published', { pool, reason }, err);
  }
}

export interface ClaimOptions {
  /**
   * How long the caller waits for an answer, in ms. The store stops waiting for other
   * claims within it, and machines claimed after it has passed are released at once
   * (reason `answer_late`) and the claim answered as empty: a client that has stopped
   * listening would never use them, and without a request id could never find them again.
   */
  answerWithinMs?: number;
}

export async function claimInstances(deps: ApiDeps, input: ClaimInput, options: ClaimOptions = {}): Promise<ClaimResult> {
  const started = deps.clock.now();
  const pool = await (deps.claimPools ?? deps.pools).getPool(input.pool);
  if (!pool) throw new WarmerError('not_found', `pool "${input.pool}" does not exist`);
  if (!pool.spec.enabled) throw new WarmerError('pool_disabled', `pool "${input.pool}" is disabled`);
  if (input.count > pool.spec.maxSize) {
    throw new WarmerError('bad_request', `count ${input.count} exceeds the pool's maxSize (${pool.spec.maxSize})`);
  }
  const requestId = input.requestId ?? randomUUID();
  const outcome = await deps.instances.claim({
    pool: pool.name,
    requestId,
    assignee: input.assignee,
    labels: input.labels,
    count: input.count,
    lifetimeSeconds: pool.spec.claimLifetimeSeconds,
    now: started,
    ...(options.answerWithinMs === undefined ? {} : { maxWaitMs: Math.max(0, options.answerWithinMs - (deps.clock.now() - started)) }),
  });
  const elapsed = deps.clock.now() - started;
  if (outcome.kind === 'claimed' && !outcome.replayed && options.answerWithinMs !== undefined && elapsed > options.answerWithinMs) {
    // Too late for this caller: give the machines back rather than leak them (the Travis
    // warmer leaked every machine it answered with after the worker's timeout).
    deps.logger.warn('claim answered too late; machines released', {
      pool: pool.name,
      instances: outcome.instances.map((i) => i.name),
      durationMs: elapsed,
      answerWithinMs: options.answerWithinMs,
    });
    const released = await Promise.allSettled(outcome.instances.map((i) => releaseInstance(deps, i.name, 'claim', 'answer_late')));
    released.forEach((r, k) => {
      // Still claimed: it goes when its claim lifetime ends, if the pool sets one.
      if (r.status === 'rejected') deps.logger.error('late claim not released', { pool: pool.name, instance: outcome.instances[k]!.name }, r.reason);
    });
    throw new WarmerError('pool_empty', `pool "${pool.name}" could not answer within ${options.answerWithinMs} ms (took ${elapsed} ms)`, {
      details: { available: 0, requested: input.count, durationMs: elapsed },
    });
  }
  if (outcome.kind === 'empty') {
    await Promise.all([
      requestRefill(deps, pool.name, 'empty'),
      recordHistory(deps.history, deps.logger, { type: 'claim_miss', pool: pool.name, at: started, count: input.count }),
    ]);
    deps.logger.warn('claim missed: pool empty', { pool: pool.name, requested: input.count, available: outcome.available, requestId });
    throw new WarmerError('pool_empty', `pool "${pool.name}" has ${outcome.available} ready machine(s); ${input.count} requested`, {
      details: { available: outcome.available, requested: input.count },
    });
  }
  // A served claim needs no history write: its receipt (written in the claim's own
  // transaction) is what the status page counts.
  if (!outcome.replayed) await requestRefill(deps, pool.name, 'claimed');
  deps.logger.info(outcome.replayed ? 'claim replayed' : 'claim served', {
    pool: pool.name,
    instances: outcome.instances.map((i) => i.name),
    requestId,
    assignee: input.assignee,
    durationMs: deps.clock.now() - started,
  });
  return { pool, instances: outcome.instances, replayed: outcome.replayed };
}

const RELEASABLE_BY_ADMIN: readonly InstanceState[] = ['creating', 'booting', 'ready', 'claimed', 'unhealthy', 'failed'];

export interface ReleaseResult {
  instance: InstanceRecord;
  alreadyReleased: boolean;
}

/**
 * Gives a machine back: it is torn down and its pool refills. A claim token may release
 * only claimed machines; an admin token any live one. Releasing twice is harmless.
 */
export async function releaseInstance(deps: ApiDeps, name: string, by: TokenKind, reason = 'released'): Promise<ReleaseResult> {
  const now = deps.clock.now();
  const current = await deps.instances.get(name);
  if (!current) throw new WarmerError('not_found', `instance "${name}" does not exist`);
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
  deps.logger.info('instance released', { instance: name, pool: next.pool, reason, by });
  return { instance: next, alreadyReleased: false };
}

export async function getInstance(deps: ApiDeps, name: string): Promise<InstanceRecord> {
  const r = await deps.instances.get(name);
  if (!r) throw new WarmerError('not_found', `instance "${name}" does not exist`);
  return r;
}

// ───────────────────────── Travis worker compatibility ─────────────────────────

export interface TravisRequest {
  imageName: string;
  machineType: string;
  publicIp: boolean;
}

/** Pools that serve a Travis request: same image and machine type (last path segments) and public/private. */
export function matchTravisPools(pools: Pool[], req: TravisRequest): Pool[] {
  const image = lastSegment(req.imageName);
  const type = lastSegment(req.machineType);
  return pools.filter(
    (p) => p.spec.enabled && lastSegment(p.spec.image) === image && lastSegment(p.spec.machineType) === type && p.spec.publicIp === req.publicIp,
  );
}

export type TravisOutcome = { kind: 'no_pool' } | { kind: 'empty'; pool: string } | { kind: 'claimed'; instance: InstanceRecord };

/**
 * The worker waits 5 s by default (FACTS.md), then boots its own VM and never reads our
 * answer; it sends no request id, so a machine claimed after that would be lost to it.
 * Answers are due within this budget; a machine claimed later is released at once.
 */
export const TRAVIS_ANSWER_BUDGET_MS = 4000;

export async function requestInstanceTravis(deps: ApiDeps, req: TravisRequest, budgetMs = TRAVIS_ANSWER_BUDGET_MS): Promise<TravisOutcome> {
  const started = deps.clock.now();
  const candidates = matchTravisPools(await deps.pools.listPools(), req);
  if (candidates.length === 0) return { kind: 'no_pool' };
  for (const pool of candidates) {
    const left = budgetMs - (deps.clock.now() - started);
    if (left <= 0) break;
    try {
      const res = await claimInstances(deps, { pool: pool.name, requestId: null, assignee: 'travis-worker', labels: {}, count: 1 }, { answerWithinMs: left });
      return { kind: 'claimed', instance: res.instances[0]! };
    } catch (err) {
      if (err instanceof WarmerError && (err.code === 'pool_empty' || err.code === 'pool_disabled')) continue;
      throw err;
    }
  }
  return { kind: 'empty', pool: candidates[0]!.name };
}
