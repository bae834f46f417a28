/**
 * Claim, release and look up machines. No Compute Engine call sits on this path: the
 * claim is one Firestore transaction; refills and teardowns go out as messages.
 */
import { randomUUID } from 'node:crypto';
import { WarmerError } from '../errors.js';
import type { ClaimOutcome } from '../domain/claim.js';
import type { InstanceRecord, InstanceState } from '../domain/instance.js';
import { lastSegment, type Pool } from '../domain/pool-spec.js';
import type { Caller } from '../auth.js';
import { probeTarget } from './reconcile-probe.js';
import { recordHistory } from '../history.js';
import type { ApiDeps } from './deps.js';

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

/** How long a refill publish may take before it is given up (and logged). */
export const REFILL_PUBLISH_TIMEOUT_MS = 10_000;

/**
 * Asks the pool to refill, off the answer path: never awaited by a claim, bounded, and a
 * failure is only a WARNING. The minute schedule is the safety net: reconcile tops the
 * pool up anyway, so a lost request only delays a refill. (On Cloud Run functions the CPU
 * may be throttled once the answer is sent; the publish then finishes late or is lost.)
 */
export function requestRefill(deps: ApiDeps, pool: string, reason: string, timeoutMs = REFILL_PUBLISH_TIMEOUT_MS): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`refill publish took more than ${timeoutMs} ms`)), timeoutMs);
    timer.unref?.();
  });
  let publish: Promise<void>;
  try {
    publish = deps.publisher.publishRefill({ pool, reason });
  } catch (err) {
    publish = Promise.reject(err);
  }
  Promise.race([publish, timeout])
    .catch((err) => deps.logger.warn('refill request not published; reconcile catches up', { pool, reason }, err))
    .finally(() => clearTimeout(timer));
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

/** Gives back machines claimed for a caller that will never read the answer. */
async function releaseUnanswered(
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
    principal: input.principal,
    requestId,
    assignee: input.assignee,
    labels: input.labels,
    ...(input.sshKeys && input.sshKeys.length > 0 ? { sshKeys: input.sshKeys } : {}),
    count: input.count,
    lifetimeSeconds: input.lifetimeSeconds ?? pool.spec.claimLifetimeSeconds,
    now: started,
    ...(options.answerWithinMs === undefined ? {} : { maxWaitMs: Math.max(0, options.answerWithinMs - (deps.clock.now() - started)) }),
  });
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
function visibleTo(r: InstanceRecord | null, caller: Caller): InstanceRecord | null {
  if (!r) return null;
  if (caller.role === 'admin') return r;
  return r.claim !== null && r.claim.principal === caller.principal ? r : null;
}

export async function getInstance(deps: ApiDeps, name: string, caller: Caller): Promise<InstanceRecord> {
  const r = visibleTo(await deps.instances.get(name), caller);
  if (!r) throw notFound(name);
  return r;
}

/**
 * A replay answers only with machines that are still the claimer's: when any was
 * released or deleted since, 410 with their states (never 200 with a dead machine).
 */
function assertReplayLive(instances: InstanceRecord[], count: number, requestId: string): void {
  if (instances.length === count && instances.every((i) => i.state === 'claimed')) return;
  throw new WarmerError('claim_gone', `the machines of request id "${requestId}" were released; claim again with a new request id`, {
    details: {
      requestId,
      instances: instances.map((i) => ({ name: i.name, state: i.state, reason: i.reason })),
      missing: Math.max(0, count - instances.length),
    },
  });
}

// ───────────────────────── the claim-time check ─────────────────────────

/**
 * Probes the machines a claim got (TCP connect + SSH banner, like the health check) and
 * replaces those that do not answer, within the pool's budget: a machine that died
 * between health probes is never handed out. Runs after the claim's transaction, never
 * inside it. A failed machine is torn down (reason `claim_check_failed`) after its
 * replacement is in the claim's receipt, so a concurrent replay never sees a hole. When
 * the budget runs out or the pool has no replacement, the whole claim is given back (all
 * or nothing) and answered as empty.
 */
async function checkClaimed(
  deps: ApiDeps,
  pool: Pool,
  input: ClaimInput & { requestId: string },
  claimed: InstanceRecord[],
): Promise<ClaimOutcome & { kind: 'claimed' | 'empty' }> {
  const check = pool.spec.claimCheck;
  const caller: Caller = { role: 'claim', principal: input.principal };
  const prober = deps.prober;
  if (!prober) {
    deps.logger.warn('claim check enabled but no prober on this path; machines handed out unchecked', { pool: pool.name });
    return { kind: 'claimed', instances: claimed, replayed: false };
  }
  const checkStart = deps.clock.now();
  let current = claimed;
  let unchecked = claimed;
  const failed: string[] = [];
  for (;;) {
    const left = check.budgetMs - (deps.clock.now() - checkStart);
    if (left <= 0) break;
    const targets = unchecked.map((r) => ({ ...probeTarget(pool.spec.healthCheck, r.ip ?? ''), timeoutMs: Math.min(check.timeoutMs, left) }));
    const results = await prober.probeMany(targets, targets.length);
    const bad = unchecked.filter((_, k) => !results[k]!.ok || !unchecked[k]!.ip);
    if (bad.length === 0) {
      if (failed.length > 0) deps.logger.info('claim check replaced machines', { pool: pool.name, failed, durationMs: deps.clock.now() - checkStart });
      return { kind: 'claimed', instances: current, replayed: false };
    }
    bad.forEach((r) => {
      const res = results[unchecked.indexOf(r)]!;
      deps.logger.warn('claim check failed; machine torn down', {
        pool: pool.name,
        instance: r.name,
        reason: res.ok ? 'no address' : res.reason,
        detail: res.ok ? null : res.detail,
      });
    });
    failed.push(...bad.map((r) => r.name));
    // Replace the failed machines in the claim's receipt, then tear them down.
    const topUp = await deps.instances.claim({
      pool: pool.name,
      principal: input.principal,
      requestId: input.requestId,
      assignee: input.assignee,
      labels: input.labels,
      ...(input.sshKeys && input.sshKeys.length > 0 ? { sshKeys: input.sshKeys } : {}),
      count: bad.length,
      lifetimeSeconds: input.lifetimeSeconds ?? pool.spec.claimLifetimeSeconds,
      now: deps.clock.now(),
      replacing: bad.map((r) => r.name),
    });
    await Promise.allSettled(bad.map((r) => releaseInstance(deps, r.name, caller, 'claim_check_failed')));
    const keep = current.filter((r) => !bad.includes(r));
    if (topUp.kind !== 'claimed' || topUp.replayed) {
      current = keep;
      break;
    }
    current = [...keep, ...topUp.instances];
    unchecked = topUp.instances;
  }
  // Out of budget or of ready machines: give the whole claim back rather than hand out
  // an unchecked or dead machine, or fewer than asked.
  const giveBack = current.filter((r) => !failed.includes(r.name));
  await Promise.allSettled(giveBack.map((r) => releaseInstance(deps, r.name, caller, 'claim_check_incomplete')));
  deps.logger.warn('claim check could not complete the claim; machines given back', {
    pool: pool.name,
    failed,
    givenBack: giveBack.map((r) => r.name),
    durationMs: deps.clock.now() - checkStart,
  });
  return { kind: 'empty', available: 0 };
}

// ───────────────────────── Travis worker compatibility ─────────────────────────

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
