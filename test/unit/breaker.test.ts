import { describe, expect, it } from 'vitest';
import {
  breakerCreateLimit,
  breakerForSpec,
  breakerKey,
  breakerPhase,
  breakerPolicyFor,
  CLOSED_BREAKER,
  DEFAULT_BREAKER_POLICY,
  openDurationMs,
  readiedSince,
  recordCreateResults,
  type BreakerState,
  type CreateOutcomes,
} from '../../shared/domain/breaker.js';

const NOW = 1_800_000_000_000;
const S = 1000;
const MIN = 60 * S;
const P = DEFAULT_BREAKER_POLICY; // window 10 min, ≥ 3 outcomes, ratio 0.5, 30 s … 15 min

const open = (opens: number, until: number, more: Partial<BreakerState> = {}): BreakerState => ({
  consecutiveFailures: 3,
  openUntil: until,
  opens,
  window: [],
  probeUntil: null,
  specKey: null,
  ...more,
});

describe('breaker phase and create limit', () => {
  it.each<[string, BreakerState, number, string, number]>([
    ['closed', CLOSED_BREAKER, NOW, 'closed', Infinity],
    ['closed with some failures', { consecutiveFailures: 2, openUntil: null }, NOW, 'closed', Infinity],
    ['open', { consecutiveFailures: 3, openUntil: NOW + 30 * S }, NOW, 'open', 0],
    ['open until the last millisecond', { consecutiveFailures: 3, openUntil: NOW + 1 }, NOW, 'open', 0],
    ['half-open when the time is up: exactly one', { consecutiveFailures: 3, openUntil: NOW }, NOW, 'half_open', 1],
    ['half-open long after: still exactly one', { consecutiveFailures: 5, openUntil: NOW - 60 * MIN }, NOW, 'half_open', 1],
    ['half-open with the probe out: none', open(1, NOW - S, { probeUntil: NOW + MIN }), NOW, 'half_open', 0],
    ['half-open, the probe took too long: one more', open(1, NOW - 10 * MIN, { probeUntil: NOW }), NOW, 'half_open', 1],
  ])('%s', (_name, state, now, phase, limit) => {
    expect(breakerPhase(state, now)).toBe(phase);
    expect(breakerCreateLimit(state, now)).toBe(limit);
  });
});

describe('recordCreateResults: one pass at a time', () => {
  const closedWith = (window: BreakerState['window'], consecutiveFailures = 0): BreakerState => ({ consecutiveFailures, openUntil: null, window });
  it.each<[string, BreakerState, CreateOutcomes, BreakerState]>([
    // closed
    [
      'nothing happened: unchanged',
      closedWith([{ at: NOW - MIN, ok: 0, failed: 2 }], 2),
      { succeeded: 0, failed: 0 },
      closedWith([{ at: NOW - MIN, ok: 0, failed: 2 }], 2),
    ],
    ['inserts that succeeded are no outcome yet', CLOSED_BREAKER, { succeeded: 0, failed: 0, started: 5 }, CLOSED_BREAKER],
    ['one failure: below the minimum, closed', CLOSED_BREAKER, { succeeded: 0, failed: 1 }, closedWith([{ at: NOW, ok: 0, failed: 1 }], 1)],
    [
      'two failures: still below the minimum',
      closedWith([{ at: NOW - MIN, ok: 0, failed: 1 }], 1),
      { succeeded: 0, failed: 1 },
      closedWith(
        [
          { at: NOW - MIN, ok: 0, failed: 1 },
          { at: NOW, ok: 0, failed: 1 },
        ],
        2,
      ),
    ],
    [
      'the third failure in the window opens for 30 s',
      closedWith([{ at: NOW - 2 * MIN, ok: 0, failed: 2 }], 2),
      { succeeded: 0, failed: 1 },
      open(1, NOW + 30 * S),
    ],
    ['six failures in one pass open for 30 s, not 240 s', CLOSED_BREAKER, { succeeded: 0, failed: 6 }, open(1, NOW + 30 * S, { consecutiveFailures: 6 })],
    [
      'failures beside more successes: below the ratio',
      closedWith([{ at: NOW - MIN, ok: 5, failed: 0 }]),
      { succeeded: 0, failed: 2 },
      closedWith(
        [
          { at: NOW - MIN, ok: 5, failed: 0 },
          { at: NOW, ok: 0, failed: 2 },
        ],
        2,
      ),
    ],
    [
      'half failed over the window: opens',
      closedWith([{ at: NOW - MIN, ok: 2, failed: 0 }]),
      { succeeded: 0, failed: 2 },
      open(1, NOW + 30 * S, { consecutiveFailures: 2 }),
    ],
    [
      'failures older than the window are forgotten',
      closedWith([{ at: NOW - 11 * MIN, ok: 0, failed: 2 }], 2),
      { succeeded: 0, failed: 1 },
      closedWith([{ at: NOW, ok: 0, failed: 1 }], 3),
    ],
    [
      'a success resets the consecutive count, not the window',
      closedWith([{ at: NOW - MIN, ok: 0, failed: 1 }], 1),
      { succeeded: 2, failed: 0 },
      closedWith(
        [
          { at: NOW - MIN, ok: 0, failed: 1 },
          { at: NOW, ok: 2, failed: 0 },
        ],
        0,
      ),
    ],
    // open
    ['open: more failures change nothing but the count', open(1, NOW + 10 * S), { succeeded: 0, failed: 2 }, open(1, NOW + 10 * S, { consecutiveFailures: 5 })],
    ['open: a machine that reaches ready closes it', open(2, NOW + 10 * S, { specKey: 'k' }), { succeeded: 1, failed: 0 }, { ...CLOSED_BREAKER, specKey: 'k' }],
    // half-open
    [
      'half-open: the insert that succeeded is the probe',
      open(1, NOW - S),
      { succeeded: 0, failed: 0, started: 1 },
      open(1, NOW - S, { probeUntil: NOW + P.probeTimeoutMs }),
    ],
    [
      'half-open: the probe reaching ready closes it',
      open(3, NOW - MIN, { probeUntil: NOW + MIN }),
      { succeeded: 1, failed: 0 },
      { ...CLOSED_BREAKER, specKey: null },
    ],
    [
      'half-open: the probe failing reopens for 60 s',
      open(1, NOW - MIN, { probeUntil: NOW + MIN }),
      { succeeded: 0, failed: 1 },
      open(2, NOW + 60 * S, { consecutiveFailures: 4 }),
    ],
    ['and again: 120 s', open(2, NOW - MIN), { succeeded: 0, failed: 1 }, open(3, NOW + 120 * S, { consecutiveFailures: 4 })],
    ['capped at 15 min', open(12, NOW - MIN), { succeeded: 0, failed: 1 }, open(13, NOW + 15 * MIN, { consecutiveFailures: 4 })],
    [
      'half-open, probe out, nothing yet: unchanged',
      open(1, NOW - MIN, { probeUntil: NOW + MIN }),
      { succeeded: 0, failed: 0 },
      open(1, NOW - MIN, { probeUntil: NOW + MIN }),
    ],
  ])('%s', (_name, state, results, expected) => {
    expect(recordCreateResults(state, results, NOW, P)).toEqual(expected);
  });
});

describe('breakerForSpec: a new image or machine type closes it', () => {
  const spec = { image: 'img-2', machineType: 'e2-small' };
  const key = breakerKey(spec);
  it.each<[string, BreakerState, BreakerState]>([
    [
      'open for the old image: closed',
      open(4, NOW + 10 * MIN, { specKey: breakerKey({ image: 'img-1', machineType: 'e2-small' }) }),
      { ...CLOSED_BREAKER, specKey: key },
    ],
    [
      'open for the old machine type: closed',
      open(1, NOW + MIN, { specKey: breakerKey({ image: 'img-2', machineType: 'n2-standard-2' }) }),
      { ...CLOSED_BREAKER, specKey: key },
    ],
    ['open for this spec: stays open', open(1, NOW + MIN, { specKey: key }), open(1, NOW + MIN, { specKey: key })],
    ['a state from before keys is adopted', { consecutiveFailures: 3, openUntil: NOW + MIN }, { consecutiveFailures: 3, openUntil: NOW + MIN, specKey: key }],
  ])('%s', (_name, state, expected) => {
    expect(breakerForSpec(state, spec)).toEqual(expected);
  });
});

describe('the breaker over time', () => {
  /** One pass a minute: `allowed` inserts, each an outcome from `fate`. */
  function run(minutes: number, want: number, fate: (minute: number) => 'fails' | 'boots', start: BreakerState = CLOSED_BREAKER) {
    let state = start;
    let attempts = 0;
    for (let m = 0; m < minutes; m++) {
      const now = NOW + m * MIN;
      const allowed = Math.min(breakerCreateLimit(state, now), want);
      attempts += allowed;
      const f = fate(m);
      state = recordCreateResults(state, f === 'fails' ? { succeeded: 0, failed: allowed } : { succeeded: allowed, failed: 0, started: allowed }, now, P);
    }
    return { state, attempts };
  }

  it('a bad image is held back with growing pauses: a few creations an hour, not one a minute', () => {
    const { state, attempts } = run(60, 5, () => 'fails');
    // 5 in the first pass, then one half-open probe after 30 s, 1, 2, 4, 8, 15, 15 … minutes
    expect(attempts).toBeLessThanOrEqual(12);
    expect(breakerPhase(state, NOW + 60 * MIN)).not.toBe('closed');
  });

  it('a pool whose image recovers is closed again by the first probe that boots', () => {
    const { state } = run(10, 5, (m) => (m < 3 ? 'fails' : 'boots'));
    expect(breakerPhase(state, NOW + 10 * MIN)).toBe('closed');
  });

  it('half-open allows exactly one probe until it resolves', () => {
    let state = recordCreateResults(CLOSED_BREAKER, { succeeded: 0, failed: 6 }, NOW, P);
    const later = NOW + 31 * S;
    expect(breakerCreateLimit(state, later)).toBe(1);
    state = recordCreateResults(state, { succeeded: 0, failed: 0, started: 1 }, later, P);
    for (const t of [later + S, later + MIN, later + 5 * MIN]) expect(breakerCreateLimit(state, t)).toBe(0);
    state = recordCreateResults(state, { succeeded: 1, failed: 0 }, later + 2 * MIN, P);
    expect(breakerCreateLimit(state, later + 2 * MIN)).toBe(Infinity);
  });

  it('openDurationMs doubles per open, capped', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((n) => openDurationMs(n, P) / S)).toEqual([30, 60, 120, 240, 480, 900, 900, 900]);
  });

  it('uses a custom policy', () => {
    const policy = { ...P, minAttempts: 1, failureRatio: 1, baseOpenMs: 10 * S, maxOpenMs: 20 * S };
    expect(recordCreateResults(CLOSED_BREAKER, { succeeded: 0, failed: 1 }, NOW, policy)).toEqual(open(1, NOW + 10 * S, { consecutiveFailures: 1 }));
    expect(openDurationMs(5, policy)).toBe(20 * S);
    expect(breakerPolicyFor({ bootTimeoutSeconds: 120 }).probeTimeoutMs).toBe(180 * S);
  });
});

describe('readiedSince', () => {
  it('counts ready and claimed records that became ready after the time', () => {
    const r = (state: string, readyAt?: number) => ({ state, stateChangedAt: readyAt === undefined ? {} : { ready: readyAt } });
    expect(readiedSince([r('ready', NOW + 1), r('claimed', NOW + 5), r('ready', NOW), r('booting'), r('deleting', NOW + 9), r('ready', NOW - MIN)], NOW)).toBe(
      2,
    );
  });
});
