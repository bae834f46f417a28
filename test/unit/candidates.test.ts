import { describe, expect, it } from 'vitest';
import {
  CandidateMemory,
  ContentionWindow,
  MAX_SPREAD_WINDOW,
  pickAmongOldest,
  SPREAD_WINDOW,
  WINDOW_DECAY_MS,
  widenedWindow,
} from '../../shared/domain/candidates.js';
import { sequence } from '../support/fake-clock.js';

const names = (n: number) => Array.from({ length: n }, (_, i) => `m${i}`);

describe('pickAmongOldest', () => {
  it.each([
    { case: 'window 0 takes exactly the oldest, oldest first', list: names(5), count: 2, window: 0, random: sequence(0.99), want: ['m0', 'm1'] },
    { case: 'random 0 keeps the oldest', list: names(10), count: 2, window: 4, random: sequence(0), want: ['m0', 'm1'] },
    { case: 'random near 1 swaps in the last of the window', list: names(10), count: 1, window: 4, random: sequence(0.99), want: ['m4'] },
    { case: 'picks come back oldest first', list: names(10), count: 2, window: 4, random: sequence(0.99, 0), want: ['m1', 'm5'] },
    { case: 'the window never reaches past count + window', list: names(100), count: 1, window: 16, random: sequence(0.9999), want: ['m16'] },
    { case: 'fewer candidates than count: all of them', list: names(2), count: 3, window: 16, random: sequence(0.5), want: ['m0', 'm1'] },
    { case: 'no candidates', list: [], count: 1, window: 16, random: sequence(0.5), want: [] },
  ])('$case', ({ list, count, window, random, want }) => {
    expect(pickAmongOldest(list, count, window, random)).toEqual(want);
  });

  it('picks distinct names, each among the oldest count + window, for any random source', () => {
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const list = names(60);
    for (let k = 0; k < 200; k++) {
      const got = pickAmongOldest(list, 3, SPREAD_WINDOW, random);
      expect(new Set(got).size).toBe(3);
      for (const n of got) expect(list.indexOf(n)).toBeLessThan(3 + SPREAD_WINDOW);
      expect([...got].sort((a, b) => list.indexOf(a) - list.indexOf(b))).toEqual(got);
    }
  });
});

describe('widenedWindow', () => {
  it.each([
    [SPREAD_WINDOW, 32],
    [64, 128],
    [MAX_SPREAD_WINDOW, MAX_SPREAD_WINDOW],
  ])('%i → %i', (from, to) => expect(widenedWindow(from)).toBe(to));
});

describe('CandidateMemory', () => {
  const T = 1_000_000;
  it.each([
    { case: 'a read is reused before it expires', at: T + 999, want: ['a', 'b'] },
    { case: 'and not once it has', at: T + 1000, want: [] },
  ])('$case', ({ at, want }) => {
    const m = new CandidateMemory(1000);
    m.remember('p', ['a', 'b'], T);
    expect(m.cached('p', at)).toEqual(want);
    expect(m.cached('other', T)).toEqual([]);
  });

  it.each([
    { case: 'taken names are skipped for twice the cache time', at: T + 1999, want: ['a'] },
    { case: 'then forgotten', at: T + 2000, want: [] },
  ])('$case', ({ at, want }) => {
    const m = new CandidateMemory(1000);
    m.remember('p', ['a', 'b'], T);
    m.forget('p', ['a'], T);
    expect(m.cached('p', T)).toEqual(['b']);
    expect([...m.recentlyTaken('p', at)]).toEqual(want);
  });
});

describe('ContentionWindow', () => {
  const T = 1_000_000;
  it.each([
    { case: 'starts at the base window', lost: [], at: T, want: SPREAD_WINDOW },
    { case: 'one lost race doubles it', lost: [T], at: T, want: SPREAD_WINDOW * 2 },
    { case: 'each further lost race doubles it again', lost: [T, T, T], at: T, want: SPREAD_WINDOW * 8 },
    { case: 'never past the widest', lost: Array.from({ length: 10 }, () => T), at: T, want: MAX_SPREAD_WINDOW },
    { case: 'holds just before the decay time', lost: [T, T], at: T + WINDOW_DECAY_MS - 1, want: SPREAD_WINDOW * 4 },
    { case: 'halves once the decay time has passed without a lost race', lost: [T, T], at: T + WINDOW_DECAY_MS, want: SPREAD_WINDOW * 2 },
    { case: 'back to the base after long enough', lost: [T, T, T], at: T + 10 * WINDOW_DECAY_MS, want: SPREAD_WINDOW },
    {
      case: 'a later lost race restarts the decay from the decayed width',
      lost: [T, T, T + WINDOW_DECAY_MS],
      at: T + WINDOW_DECAY_MS,
      want: SPREAD_WINDOW * 4,
    },
  ])('$case', ({ lost, at, want }) => {
    const w = new ContentionWindow();
    for (const t of lost) w.lost('p', t);
    expect(w.current('p', at)).toBe(want);
    expect(w.current('other', at)).toBe(SPREAD_WINDOW);
  });

  it.each([
    { case: 'the full cache time at the base window', lost: 0, want: 1000 },
    { case: 'half of it at twice the window', lost: 1, want: 500 },
    { case: 'an eighth at the widest', lost: 3, want: 125 },
  ])('cache age: $case', ({ lost, want }) => {
    const w = new ContentionWindow();
    for (let i = 0; i < lost; i++) w.lost('p', T);
    expect(w.cacheAgeMs('p', T, 1000)).toBe(want);
  });

  it('spreads the picks of a contended pool over the wider window (injected random)', () => {
    const w = new ContentionWindow();
    const list = names(200);
    const pick = (r: number) => pickAmongOldest(list, 1, w.current('p', T), sequence(r))[0]!;
    expect(list.indexOf(pick(0.9999))).toBe(SPREAD_WINDOW);
    w.lost('p', T);
    w.lost('p', T);
    expect(list.indexOf(pick(0.9999))).toBe(SPREAD_WINDOW * 4);
  });
});

describe('CandidateMemory under contention', () => {
  const T = 1_000_000;
  it.each([
    { case: 'a read younger than the max age is reused', at: T + 124, maxAge: 125, want: ['a'] },
    { case: 'an older one is not, though within the cache time', at: T + 125, maxAge: 125, want: [] },
    { case: 'a max age past the cache time is capped by it', at: T + 1000, maxAge: 5000, want: [] },
  ])('$case', ({ at, maxAge, want }) => {
    const m = new CandidateMemory(1000);
    m.remember('p', ['a'], T);
    expect(m.cached('p', at, maxAge)).toEqual(want);
  });
});
