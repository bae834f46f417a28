/**
 * The sizing policies compared by the simulator: warmer's fixed target and its
 * demand-aware sizing (the production `sizingTarget`, fed by the simulated claims exactly
 * as production records them), and the peers' rules as their docs describe them.
 */
import { fixedTargetReady, type PoolSpec } from '../domain/pool-spec.js';
import { emptyHistory, recordClaim, rollHistory, sizingTarget, type DemandHistory, type SizingSchedule } from '../domain/sizing.js';
import { minuteMatcher } from './cron-minutes.js';
import { WARMER_CADENCE, type Policy } from './engine.js';

/** warmer with a fixed targetReady: passes every 60 s plus refill-on-claim. */
export function fixedPolicy(target: number): Policy {
  return { name: `fixed-${target}`, cadence: WARMER_CADENCE, controller: () => ({ target: () => target }) };
}

/** The Travis warmer: a fixed pool size, one pass every 30 s, one creation per pass. */
export function travisPolicy(target: number): Policy {
  return {
    name: `travis-warmer-${target}`,
    cadence: { passEveryS: 30, eventDriven: false, refillDelayS: 0, createThrottle: 1, maxInFlight: null },
    controller: () => ({ target: () => target }),
  };
}

/** vmpooler: a fixed pool size, a pass about every 15 s, at most 10 machines booting at once. */
export function vmpoolerPolicy(target: number): Policy {
  return {
    name: `vmpooler-${target}`,
    cadence: { passEveryS: 15, eventDriven: false, refillDelayS: 0, createThrottle: null, maxInFlight: 10 },
    controller: () => ({ target: () => target }),
  };
}

export interface GitlabPeriod {
  /** Cron periods in which this policy applies (the last matching one wins, as in GitLab). */
  periods: string[];
  idleCount: number;
  /** Extra idle machines as a share of machines in use, capped by scaleFactorLimit. */
  scaleFactor: number;
  scaleFactorLimit: number;
}

/**
 * GitLab's taskscaler (docs.gitlab.com/runner/executors/docker_autoscaler, [[runners.autoscaler.policy]]):
 * idle = max(idle_count, min(scale_factor × in_use, scale_factor_limit)) for the last policy
 * whose cron periods match now. Run with warmer's own cadence, so only the sizing rule differs.
 */
export function gitlabPolicy(name: string, policies: GitlabPeriod[]): Policy {
  return {
    name,
    cadence: WARMER_CADENCE,
    controller: () => {
      // Cron periods match whole minutes: evaluate them once per minute.
      let minute = -1;
      let active: GitlabPeriod | null = null;
      const periods = policies.map((p) => ({ p, matches: p.periods.map((c) => minuteMatcher(c)) }));
      return {
        target: (now, view) => {
          if (Math.floor(now / 60_000) !== minute) {
            minute = Math.floor(now / 60_000);
            active = null;
            for (const { p, matches } of periods) if (matches.some((m) => m(now))) active = p;
          }
          if (active === null) return 0;
          return Math.max(active.idleCount, Math.min(Math.ceil(active.scaleFactor * view.claimed), active.scaleFactorLimit));
        },
      };
    },
  };
}

/**
 * The usual GitLab setup: a business-hours idle count on weekdays (07–19 UTC), a quarter of
 * it otherwise, and a scale factor of 0.25 on machines in use up to the day idle count.
 */
export function gitlabBusinessHours(dayIdle: number): Policy {
  return gitlabPolicy(`gitlab-taskscaler-${dayIdle}`, [
    { periods: ['* * * * *'], idleCount: Math.ceil(dayIdle / 4), scaleFactor: 0.25, scaleFactorLimit: dayIdle },
    { periods: ['* 7-19 * * 1-5'], idleCount: dayIdle, scaleFactor: 0.25, scaleFactorLimit: dayIdle },
  ]);
}

export interface DemandPolicyOptions {
  warmHitTarget: number;
  minReady?: number;
  maxReady?: number | null;
  schedules?: SizingSchedule[];
  /** A history recorded before the replay (e.g. the pool's own); empty by default. */
  history?: DemandHistory;
  /**
   * Lead time the sizing looks ahead. Default: the run's median boot time, as production
   * uses the median boot of the pool's own machines (services/reconcile-sizing.ts bootLeadMs).
   */
  leadMs?: number;
}

/** warmer's demand-aware sizing: the production function, learning only from past claims. */
export function demandPolicy(o: DemandPolicyOptions): Policy {
  return {
    name: `demand-${o.warmHitTarget}`,
    cadence: WARMER_CADENCE,
    controller: (spec: PoolSpec, run) => {
      const leadMs = o.leadMs ?? run.boot.medianS * 1000;
      let history = o.history ?? emptyHistory();
      let predicted: number | undefined;
      const inputs = {
        // A `fill` pool has no node group in the simulator: it is bounded by maxSize.
        targetReady: fixedTargetReady(spec) ?? spec.maxSize,
        maxSize: spec.maxSize,
        sizing: {
          mode: 'demand' as const,
          warmHitTarget: o.warmHitTarget,
          minReady: o.minReady ?? 0,
          maxReady: o.maxReady ?? null,
          schedules: o.schedules ?? [],
        },
      };
      return {
        target: (now) => {
          history = rollHistory(history, now);
          const d = sizingTarget(history, inputs, now, { leadMs });
          predicted = d.why.predictedHitRate ?? undefined;
          return d.target;
        },
        observe: (now, claim) => {
          history = recordClaim(history, now, { ...claim, ...(predicted === undefined ? {} : { predictedHitRate: predicted }) });
        },
      };
    },
  };
}
