/**
 * What one probe result means for an instance record. Pure: `now` is passed in.
 *
 * - booting + ok   → ready (failures reset)
 * - booting + fail → stays booting, the error recorded (the boot timeout is decided by
 *                    the reconcile plan, not by probe counts)
 * - ready + ok     → stays ready, failures reset (a write only if something changed)
 * - ready + fail   → failures + 1; at `failuresBeforeUnhealthy` → unhealthy
 * - claimed        → never unhealthy (people reboot machines they own): failures are
 *                    counted and, when they reach the threshold, reported
 * - other states   → not probed; ignored
 */
import type { HealthInfo, InstanceRecord } from './instance.js';
import type { PoolSpec } from './pool-spec.js';
import type { ProbeResult } from './probe.js';

export type ProbeAssessment =
  /** booting → ready */
  | { kind: 'ready'; health: HealthInfo }
  /** ready → unhealthy */
  | { kind: 'unhealthy'; health: HealthInfo }
  /** No state change. `changed` says whether failures or the error moved (worth a write). */
  | { kind: 'health'; health: HealthInfo; changed: boolean }
  /** A claimed machine just reached the failure threshold: report it, never tear it down. */
  | { kind: 'report'; health: HealthInfo; changed: true }
  /** The record is in a state that is not probed. */
  | { kind: 'ignore' };

/** A probe failure as one line for `health.lastError`. */
export function describeProbeFailure(probe: ProbeResult): string | null {
  return probe.ok ? null : `${probe.reason}: ${probe.detail}`;
}

/** Whether a probe's health differs from the record's (failures, error, per-address verdicts). */
const verdicts = (h: HealthInfo) => JSON.stringify(h.byAddress ?? null);
function healthChanged(h: HealthInfo, before: HealthInfo): boolean {
  return (
    h.consecutiveFailures !== before.consecutiveFailures || h.lastError !== before.lastError || (h.byAddress !== undefined && verdicts(h) !== verdicts(before))
  );
}

/**
 * `lastProbeAt` is always set to `now` in the returned health, but a new probe time alone
 * does not count as a change: writing every healthy machine every pass would cost a
 * Firestore write per machine per minute for nothing.
 */
export function assessProbe(record: InstanceRecord, probe: ProbeResult, spec: PoolSpec, now: number): ProbeAssessment {
  const before = record.health;
  const byAddress = probe.byAddress ? { byAddress: probe.byAddress } : {};
  const ok: HealthInfo = { consecutiveFailures: 0, lastProbeAt: now, lastError: null, ...byAddress };
  const failed: HealthInfo = {
    consecutiveFailures: before.consecutiveFailures + 1,
    lastProbeAt: now,
    lastError: describeProbeFailure(probe),
    ...byAddress,
  };
  const threshold = spec.healthCheck.failuresBeforeUnhealthy;

  switch (record.state) {
    case 'booting': {
      if (probe.ok) return { kind: 'ready', health: ok };
      // Failing while booting is expected: keep the count at what it was, record the error.
      const health: HealthInfo = { ...failed, consecutiveFailures: before.consecutiveFailures };
      return { kind: 'health', health, changed: healthChanged(health, before) };
    }
    case 'ready': {
      if (probe.ok) return { kind: 'health', health: ok, changed: healthChanged(ok, before) };
      if (failed.consecutiveFailures >= threshold) return { kind: 'unhealthy', health: failed };
      return { kind: 'health', health: failed, changed: true };
    }
    case 'claimed': {
      if (probe.ok) return { kind: 'health', health: ok, changed: healthChanged(ok, before) };
      if (failed.consecutiveFailures === threshold) return { kind: 'report', health: failed, changed: true };
      return { kind: 'health', health: failed, changed: true };
    }
    default:
      return { kind: 'ignore' };
  }
}
