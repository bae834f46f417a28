import { describe, expect, it } from 'vitest';
import { assessProbe, type ProbeAssessment } from '../../shared/domain/health.js';
import { newInstanceRecord, type HealthInfo, type InstanceRecord, type InstanceState } from '../../shared/domain/instance.js';
import { parsePoolSpec, type PoolSpec } from '../../shared/domain/pool-spec.js';
import type { ProbeResult } from '../../shared/domain/probe.js';

const NOW = 1_800_000_000_000;
const EARLIER = NOW - 60_000;

function specWith(failuresBeforeUnhealthy = 3): PoolSpec {
  const r = parsePoolSpec({
    image: 'projects/debian-cloud/global/images/family/debian-12',
    machineType: 'e2-small',
    zones: ['us-central1-a'],
    targetReady: 2,
    maxSize: 5,
    healthCheck: { failuresBeforeUnhealthy },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.spec;
}

function record(state: InstanceState, health: Partial<HealthInfo> = {}): InstanceRecord {
  const r = newInstanceRecord({ name: 'ci-0123456789', pool: 'ci', zone: 'us-central1-a', requestId: 'req', now: EARLIER - 60_000 });
  return { ...r, state, ip: '10.0.0.2', health: { consecutiveFailures: 0, lastProbeAt: EARLIER, lastError: null, ...health } };
}

const OK: ProbeResult = { ok: true, durationMs: 12, banner: 'SSH-2.0-OpenSSH_9.6' };
const REFUSED: ProbeResult = { ok: false, durationMs: 3, reason: 'refused', detail: 'connect ECONNREFUSED 10.0.0.2:22' };
const REFUSED_ERROR = 'refused: connect ECONNREFUSED 10.0.0.2:22';

const healthy: HealthInfo = { consecutiveFailures: 0, lastProbeAt: NOW, lastError: null };

describe('assessProbe', () => {
  it.each<[string, InstanceRecord, ProbeResult, number, ProbeAssessment]>([
    ['booting + ok → ready', record('booting'), OK, 3, { kind: 'ready', health: healthy }],
    ['booting + ok → ready, resetting an old error', record('booting', { lastError: REFUSED_ERROR }), OK, 3, { kind: 'ready', health: healthy }],
    [
      'booting + fail → stays booting, error recorded, no failure count',
      record('booting'),
      REFUSED,
      1,
      { kind: 'health', health: { consecutiveFailures: 0, lastProbeAt: NOW, lastError: REFUSED_ERROR }, changed: true },
    ],
    [
      'booting + the same failure again → nothing worth writing',
      record('booting', { lastError: REFUSED_ERROR }),
      REFUSED,
      1,
      { kind: 'health', health: { consecutiveFailures: 0, lastProbeAt: NOW, lastError: REFUSED_ERROR }, changed: false },
    ],
    ['ready + ok with nothing to reset → unchanged', record('ready'), OK, 3, { kind: 'health', health: healthy, changed: false }],
    [
      'ready + ok after failures → reset',
      record('ready', { consecutiveFailures: 2, lastError: REFUSED_ERROR }),
      OK,
      3,
      { kind: 'health', health: healthy, changed: true },
    ],
    [
      'ready + fail below the threshold → counted',
      record('ready', { consecutiveFailures: 1 }),
      REFUSED,
      3,
      { kind: 'health', health: { consecutiveFailures: 2, lastProbeAt: NOW, lastError: REFUSED_ERROR }, changed: true },
    ],
    [
      'ready + fail at the threshold → unhealthy',
      record('ready', { consecutiveFailures: 2 }),
      REFUSED,
      3,
      { kind: 'unhealthy', health: { consecutiveFailures: 3, lastProbeAt: NOW, lastError: REFUSED_ERROR } },
    ],
    [
      'ready + fail with threshold 1 → unhealthy at once',
      record('ready'),
      REFUSED,
      1,
      { kind: 'unhealthy', health: { consecutiveFailures: 1, lastProbeAt: NOW, lastError: REFUSED_ERROR } },
    ],
    [
      'claimed + fail at the threshold → report only',
      record('claimed', { consecutiveFailures: 2 }),
      REFUSED,
      3,
      { kind: 'report', health: { consecutiveFailures: 3, lastProbeAt: NOW, lastError: REFUSED_ERROR }, changed: true },
    ],
    [
      'claimed + fail past the threshold → counted, never unhealthy, reported once',
      record('claimed', { consecutiveFailures: 9 }),
      REFUSED,
      3,
      { kind: 'health', health: { consecutiveFailures: 10, lastProbeAt: NOW, lastError: REFUSED_ERROR }, changed: true },
    ],
    [
      'claimed + ok after failures → reset',
      record('claimed', { consecutiveFailures: 4, lastError: REFUSED_ERROR }),
      OK,
      3,
      { kind: 'health', health: healthy, changed: true },
    ],
    ['unhealthy is not probed', record('unhealthy'), OK, 3, { kind: 'ignore' }],
    ['creating is not probed', record('creating'), OK, 3, { kind: 'ignore' }],
    ['deleting is not probed', record('deleting'), REFUSED, 3, { kind: 'ignore' }],
  ])('%s', (_name, rec, probe, threshold, expected) => {
    expect(assessProbe(rec, probe, specWith(threshold), NOW)).toEqual(expected);
  });

  it('a claimed machine never becomes unhealthy however long it fails', () => {
    let rec = record('claimed');
    for (let i = 0; i < 50; i++) {
      const a = assessProbe(rec, REFUSED, specWith(3), NOW + i);
      expect(a.kind === 'report' || a.kind === 'health').toBe(true);
      if (a.kind === 'report' || a.kind === 'health') rec = { ...rec, health: a.health };
    }
    expect(rec.health.consecutiveFailures).toBe(50);
  });
});
