import { describe, expect, it } from 'vitest';
import {
  breakerCreateLimit,
  breakerPhase,
  CLOSED_BREAKER,
  DEFAULT_BREAKER_POLICY,
  openDurationMs,
  recordCreateResults,
  type BreakerState,
} from '../../shared/domain/breaker.js';

const NOW = 1_800_000_000_000;
const S = 1000;
const MIN = 60 * S;

describe('breaker phase', () => {
  it.each<[string, BreakerState, number, string, boolean, number]>([
    ['closed', CLOSED_BREAKER, NOW, 'closed', true, Infinity],
    ['closed with some failures', { consecutiveFailures: 2, openUntil: null }, NOW, 'closed', true, Infinity],
    ['open', { consecutiveFailures: 3, openUntil: NOW + 30 * S }, NOW, 'open', false, 0],
    ['open until the last millisecond', { consecutiveFailures: 3, openUntil: NOW + 1 }, NOW, 'open', false, 0],
    ['half-open when the time is up', { consecutiveFailures: 3, openUntil: NOW }, NOW, 'half_open', true, 1],
    ['half-open long after', { consecutiveFailures: 5, openUntil: NOW - 60 * MIN }, NOW, 'half_open', true, 1],
  ])('%s', (_name, state, now, phase, allows, limit) => {
    expect(breakerPhase(state, now)).toBe(phase);
    expect(breakerCreateLimit(state, now) > 0).toBe(allows); // any creation allowed now
    expect(breakerCreateLimit(state, now)).toBe(limit);
  });
});

describe('recordCreateResults', () => {
  it.each<[string, BreakerState, { succeeded: number; failed: number }, BreakerState]>([
    ['nothing happened: unchanged', { consecutiveFailures: 2, openUntil: null }, { succeeded: 0, failed: 0 }, { consecutiveFailures: 2, openUntil: null }],
    ['one failure stays closed', CLOSED_BREAKER, { succeeded: 0, failed: 1 }, { consecutiveFailures: 1, openUntil: null }],
    ['two failures stay closed', { consecutiveFailures: 1, openUntil: null }, { succeeded: 0, failed: 1 }, { consecutiveFailures: 2, openUntil: null }],
    ['the third failure opens for 30 s', { consecutiveFailures: 2, openUntil: null }, { succeeded: 0, failed: 1 }, { consecutiveFailures: 3, openUntil: NOW + 30 * S }],
    ['three failures in one pass open at once', CLOSED_BREAKER, { succeeded: 0, failed: 3 }, { consecutiveFailures: 3, openUntil: NOW + 30 * S }],
    ['a failed half-open try doubles: 60 s', { consecutiveFailures: 3, openUntil: NOW - 1 }, { succeeded: 0, failed: 1 }, { consecutiveFailures: 4, openUntil: NOW + 60 * S }],
    ['and again: 120 s', { consecutiveFailures: 4, openUntil: NOW - 1 }, { succeeded: 0, failed: 1 }, { consecutiveFailures: 5, openUntil: NOW + 120 * S }],
    ['capped at 15 min', { consecutiveFailures: 12, openUntil: NOW - 1 }, { succeeded: 0, failed: 1 }, { consecutiveFailures: 13, openUntil: NOW + 15 * MIN }],
    ['a successful half-open try closes it', { consecutiveFailures: 7, openUntil: NOW - 1 }, { succeeded: 1, failed: 0 }, CLOSED_BREAKER],
    ['a success next to failures closes it (the image works)', { consecutiveFailures: 2, openUntil: null }, { succeeded: 1, failed: 4 }, CLOSED_BREAKER],
  ])('%s', (_name, state, results, expected) => {
    expect(recordCreateResults(state, results, NOW, DEFAULT_BREAKER_POLICY)).toEqual(expected);
  });

  it('a bad image is held back with growing pauses: a few creations an hour, not one a minute', () => {
    let state: BreakerState = CLOSED_BREAKER;
    let attempts = 0;
    for (let now = NOW; now < NOW + 60 * MIN; now += MIN) {
      const allowed = Math.min(breakerCreateLimit(state, now), 5);
      attempts += allowed;
      state = recordCreateResults(state, { succeeded: 0, failed: allowed }, now);
    }
    // 5 in the first pass, then one half-open try after 30 s, 1, 2, 4, 8, 15, 15 … minutes
    expect(attempts).toBeLessThanOrEqual(12);
    expect(breakerPhase(state, NOW + 60 * MIN)).not.toBe('closed');
  });

  it('uses a custom policy', () => {
    const policy = { failureThreshold: 1, baseOpenMs: 10 * S, maxOpenMs: 20 * S };
    expect(recordCreateResults(CLOSED_BREAKER, { succeeded: 0, failed: 1 }, NOW, policy)).toEqual({ consecutiveFailures: 1, openUntil: NOW + 10 * S });
    expect(openDurationMs(5, policy)).toBe(20 * S);
  });
});
