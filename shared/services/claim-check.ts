/** The claim-time check of pools that enable it (claimCheck), after the claim's transaction. */
import type { ClaimOutcome } from '../domain/claim.js';
import type { InstanceRecord } from '../domain/instance.js';
import type { Pool } from '../domain/pool-spec.js';
import type { Caller } from '../auth.js';
import { probeTarget } from './reconcile-probe.js';
import type { ApiDeps } from './deps.js';
import type { ClaimInput } from './claim.js';
import { releaseInstance } from './claim-release.js';

/**
 * Probes the machines a claim got (TCP connect + SSH banner, like the health check) and
 * replaces those that do not answer, within the pool's budget: a machine that died
 * between health probes is never handed out. Runs after the claim's transaction, never
 * inside it. A failed machine is torn down (reason `claim_check_failed`) after its
 * replacement is in the claim's receipt, so a concurrent replay never sees a hole. When
 * the budget runs out or the pool has no replacement, the whole claim is given back (all
 * or nothing) and answered as empty.
 */
export async function checkClaimed(
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
