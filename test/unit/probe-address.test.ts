/**
 * Ready means reachable from where people connect: a health check may probe the public
 * address (or both), the verdict is per address, and the record's health keeps it.
 */
import { describe, expect, it } from 'vitest';
import { combineProbes, probeAddresses, type ProbeResult } from '../../shared/domain/probe.js';
import { assessProbe } from '../../shared/domain/health.js';
import { newInstanceRecord } from '../../shared/domain/instance.js';
import { probeHealth } from '../../shared/services/reconcile-probe.js';
import { DEFAULT_SETTINGS } from '../../shared/services/reconcile.js';
import { spec } from '../support/builders.js';
import { FakeProber } from '../support/fake-compute.js';

const OK: ProbeResult = { ok: true, durationMs: 3, banner: 'SSH-2.0-x' };
const REFUSED: ProbeResult = { ok: false, durationMs: 5, reason: 'refused', detail: 'ECONNREFUSED' };

describe('probeAddresses', () => {
  it.each([
    ['internal', [{ kind: 'internal', ip: '10.0.0.2' }]],
    ['public', [{ kind: 'public', ip: '34.1.2.3' }]],
    [
      'both',
      [
        { kind: 'internal', ip: '10.0.0.2' },
        { kind: 'public', ip: '34.1.2.3' },
      ],
    ],
  ] as const)('%s', (address, want) => {
    expect(probeAddresses(address, '10.0.0.2', '34.1.2.3')).toEqual(want);
  });
});

describe('combineProbes', () => {
  const cases: Array<[string, Array<{ kind: 'internal' | 'public'; result: ProbeResult }>, { ok: boolean; byAddress?: unknown; detail?: string }]> = [
    ['internal only: as before, no per-address field', [{ kind: 'internal', result: OK }], { ok: true }],
    ['public ok', [{ kind: 'public', result: OK }], { ok: true, byAddress: { public: { ok: true, error: null } } }],
    [
      'both, public refused: not ready, and the failure names the address',
      [
        { kind: 'internal', result: OK },
        { kind: 'public', result: REFUSED },
      ],
      {
        ok: false,
        detail: 'public address: ECONNREFUSED',
        byAddress: { internal: { ok: true, error: null }, public: { ok: false, error: 'refused: ECONNREFUSED' } },
      },
    ],
    [
      'both ok',
      [
        { kind: 'internal', result: OK },
        { kind: 'public', result: OK },
      ],
      { ok: true, byAddress: { internal: { ok: true, error: null }, public: { ok: true, error: null } } },
    ],
  ];
  it.each(cases)('%s', (_name, results, want) => {
    const r = combineProbes(results);
    expect(r.ok).toBe(want.ok);
    expect(r.byAddress).toEqual(want.byAddress);
    if (!r.ok) expect(r.detail).toBe(want.detail);
  });
});

describe('probeHealth and the record', () => {
  const pool = spec({ publicIp: true, healthCheck: { address: 'both' } });
  const record = {
    ...newInstanceRecord({ name: 'ci-1', pool: 'ci', zone: 'us-central1-a', requestId: 'r', now: 0 }),
    state: 'booting' as const,
    ip: '10.0.0.2',
    publicIp: '34.1.2.3',
  };

  it('probes both addresses; a machine whose public address does not answer stays booting, with the verdict per address', async () => {
    const prober = new FakeProber();
    prober.answers.set('34.1.2.3', REFUSED);
    const [result] = await probeHealth({ prober, settings: DEFAULT_SETTINGS }, pool.healthCheck, [record]);
    expect(result!.ok).toBe(false);
    const a = assessProbe(record, result!, pool, 1000);
    expect(a).toMatchObject({
      kind: 'health',
      changed: true,
      health: { byAddress: { internal: { ok: true }, public: { ok: false, error: 'refused: ECONNREFUSED' } } },
    });
  });

  it('becomes ready when both answer, and the health it is made ready with keeps both verdicts', async () => {
    const r = (await probeHealth({ prober: new FakeProber(), settings: DEFAULT_SETTINGS }, pool.healthCheck, [record]))[0]!;
    const a = assessProbe(record, r, pool, 1000);
    expect(a).toEqual({
      kind: 'ready',
      health: {
        consecutiveFailures: 0,
        lastProbeAt: 1000,
        lastError: null,
        byAddress: { internal: { ok: true, error: null }, public: { ok: true, error: null } },
      },
    });
  });

  it('no public address yet counts as a failed probe of it', async () => {
    const [result] = await probeHealth({ prober: new FakeProber(), settings: DEFAULT_SETTINGS }, pool.healthCheck, [{ ...record, publicIp: null }]);
    expect(result).toMatchObject({ ok: false, reason: 'unreachable', detail: 'public address: no public address' });
  });
});
