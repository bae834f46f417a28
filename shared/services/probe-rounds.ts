/**
 * Probe rounds between scheduler ticks. Cloud Scheduler fires once a minute, and a pass
 * probes ready machines only then, so a machine that died stayed claimable for minutes
 * although its pool says `healthCheck.intervalSeconds: 10`. After the scheduled pass, the
 * same invocation keeps probing every pool's booting and ready machines at the pool's own
 * interval until shortly before the next tick (`probeRoundBudgetMs`, counted from the
 * tick's publication):
 *   - booting + ok: → ready (compare-and-set), as a pass would;
 *   - ready failing `failuresBeforeUnhealthy` probes in a row: → unhealthy (out of the
 *     claimable set at once), and a refill is requested so a pass replaces it;
 *   - failure counts and errors are written only when they change (assessProbe).
 * Every move is a compare-and-set on the record, so rounds are safe next to any pass or
 * claim and need no lease. Teardowns and creations stay with the passes.
 */
import pLimit from 'p-limit';
import { assessProbe } from '../domain/health.js';
import type { Pool } from '../domain/pool-spec.js';
import type { Sleep } from '../ports.js';
import { recordReady } from './reconcile-apply.js';
import { probeHealth } from './reconcile-probe.js';
import type { ReconcileDeps } from './reconcile-deps.js';

export interface ProbeRoundsResult {
  rounds: number;
  probed: number;
  madeReady: number;
  madeUnhealthy: number;
}

const timerSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rounds never start closer together than this, whatever a pool's interval. */
const MIN_ROUND_GAP_MS = 1000;

/**
 * Probes every pool at its own interval; no round starts after `deadline` (epoch ms on
 * deps.clock). The first round of a pool is one interval after `since` (the pass just
 * probed it).
 */
export async function runProbeRounds(deps: ReconcileDeps, since: number, deadline: number, signal?: AbortSignal): Promise<ProbeRoundsResult> {
  const sleep = deps.sleep ?? timerSleep;
  const result: ProbeRoundsResult = { rounds: 0, probed: 0, madeReady: 0, madeUnhealthy: 0 };
  const nextAt = new Map<string, number>();
  const limit = pLimit(deps.settings.poolConcurrency);
  const intervalOf = (p: Pool) => Math.max(MIN_ROUND_GAP_MS, p.spec.healthCheck.intervalSeconds * 1000);

  while (!signal?.aborted) {
    const pools = (await deps.pools.listPools()).filter((p) => p.spec.enabled);
    if (pools.length === 0) break;
    for (const p of pools) if (!nextAt.has(p.name)) nextAt.set(p.name, since + intervalOf(p));
    const wake = Math.min(...pools.map((p) => nextAt.get(p.name)!));
    // No round starts after the deadline (the next tick's pass probes then).
    if (wake > deadline) break;
    const now = deps.clock.now();
    if (wake > now) {
      await sleep(Math.min(wake, deadline) - now);
      continue;
    }
    const due = pools.filter((p) => nextAt.get(p.name)! <= now);
    for (const p of due) nextAt.set(p.name, now + intervalOf(p));
    result.rounds++;
    await Promise.all(due.map((p) => limit(() => probePool(deps, p, result))));
  }
  if (result.rounds > 0) deps.logger.info('probe rounds', { ...result });
  return result;
}

/** The rounds after a scheduled tick published at `publishedAt` (null: now): none when the budget is 0. */
export async function runScheduledProbeRounds(deps: ReconcileDeps, publishedAt: number | null, signal?: AbortSignal): Promise<ProbeRoundsResult | null> {
  if (deps.settings.probeRoundBudgetMs <= 0) return null;
  const now = deps.clock.now();
  const since = publishedAt !== null && publishedAt <= now ? publishedAt : now;
  return runProbeRounds(deps, now, since + deps.settings.probeRoundBudgetMs, signal);
}

async function probePool(deps: ReconcileDeps, pool: Pool, result: ProbeRoundsResult): Promise<void> {
  const log = deps.logger.child({ pool: pool.name });
  try {
    const records = (await deps.instances.listByPool(pool.name, ['booting', 'ready'])).filter((r) => r.ip);
    if (records.length === 0) return;
    const probes = await probeHealth(deps, pool.spec.healthCheck, records);
    result.probed += records.length;
    const now = deps.clock.now();
    let unhealthy = 0;
    await Promise.all(
      records.map(async (r, i) => {
        const a = assessProbe(r, probes[i]!, pool.spec, now);
        if (a.kind === 'ready') {
          const next = await deps.instances.transition(r.name, ['booting'], 'ready', now, { health: a.health });
          if (next) {
            result.madeReady++;
            await recordReady(deps, next, now);
          }
        } else if (a.kind === 'unhealthy') {
          const next = await deps.instances.transition(r.name, ['ready'], 'unhealthy', now, { health: a.health, reason: 'probe_failures' });
          if (next) {
            result.madeUnhealthy++;
            unhealthy++;
            log.warn('machine unhealthy: out of the pool', { instance: r.name, failures: a.health.consecutiveFailures, error: a.health.lastError });
          }
        } else if (a.kind === 'health' && a.changed) {
          await deps.instances.update(r.name, [r.state], { health: a.health });
        }
      }),
    );
    // A pass tears the unhealthy machines down and replaces them.
    if (unhealthy > 0) await deps.publisher.publishRefill({ pool: pool.name, reason: 'unhealthy' });
  } catch (err) {
    log.warn('probe round failed for the pool; the next one retries', {}, err);
  }
}
