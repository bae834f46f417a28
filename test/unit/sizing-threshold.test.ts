import { describe, expect, it } from 'vitest';
import { bisectedHolds, type ThresholdProblem } from '../../shared/domain/sizing-threshold.js';
import { Rng } from '../../shared/sim/rng.js';

/**
 * The bisection the solve defines (sizing-threshold.ts): log μ from log(maxλ·1e-9) to
 * log(maxλ·1.000001), 40 halvings at most, down to 1e-6, each step searching every slot's
 * hold in [0, maxReady]. The fast search must give the same holds and hit rate, to the bit.
 */
function reference(p: ThresholdProblem): { holds: number[]; hit: number } {
  const n = p.lambda.length;
  const evaluate = (mu: number) => {
    const holds: number[] = [];
    let missed = 0;
    for (let i = 0; i < n; i++) {
      const l = p.lambda[i]!;
      let lo = 0;
      if (l > 0) {
        let hi = p.maxReady;
        while (lo < hi) {
          const mid = (lo + hi + 1) >> 1;
          if (l * p.s[mid]! >= mu) lo = mid;
          else hi = mid - 1;
        }
      }
      holds.push(lo);
      missed += l * p.gap[lo]!;
    }
    return { hit: 1 - missed / p.demand, holds };
  };
  const maxL = Math.max(...p.lambda);
  let lo = Math.log(maxL * 1e-9);
  let hi = Math.log(maxL * 1.000001);
  let atLo = evaluate(Math.exp(lo));
  if (atLo.hit < p.aim) hi = lo;
  for (let i = 0; i < 40 && hi - lo > 1e-6; i++) {
    const mid = (lo + hi) / 2;
    const at = evaluate(Math.exp(mid));
    if (at.hit >= p.aim) {
      lo = mid;
      atLo = at;
    } else hi = mid;
  }
  return atLo;
}

interface Shape {
  name: string;
  /** Largest burst peak. */
  maxPeak: number;
  maxReady: number;
  /** Share of slots with no bursts. */
  zeroSlots: number;
  /** Slots share one of this many rates (ties), 0: every slot its own. */
  distinctRates: number;
  aim: number;
  /** Mean burst size over mean peak (≥ 1: a burst's jobs beyond its peak are refilled in time). */
  sizeOverPeak: number;
}

function problem(shape: Shape, rng: Rng): ThresholdProblem {
  const n = 168;
  const rates = Array.from({ length: Math.max(1, shape.distinctRates) }, () => 0.05 + 3 * rng.next() ** 2);
  const lambda = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (rng.next() < shape.zeroSlots) continue;
    lambda[i] = shape.distinctRates > 0 ? rates[Math.floor(rng.next() * rates.length)]! : 0.05 + 3 * rng.next() ** 2;
  }
  // A decayed-looking histogram of peaks 1..maxPeak, some sizes never seen.
  const weights = Array.from({ length: shape.maxPeak + 1 }, (_, k) => (k === 0 || rng.next() < 0.3 ? 0 : rng.next() * 0.97 ** k));
  weights[shape.maxPeak] = 0.01 + rng.next();
  const total = weights.reduce((a, b) => a + b, 0);
  const meanPeak = weights.reduce((a, w, k) => a + w * k, 0) / total;
  const s = new Float64Array(shape.maxReady + 1);
  let above = total;
  for (let k = 0; k <= shape.maxReady; k++) {
    s[k] = Math.max(0, above) / total;
    above -= weights[k] ?? 0;
  }
  s[0] = 1;
  const gap = new Float64Array(shape.maxReady + 1);
  let fill = 0;
  for (let r = 0; r <= shape.maxReady; r++) {
    if (r > 0) fill += s[r]!;
    gap[r] = Math.max(0, meanPeak - fill);
  }
  const demand = lambda.reduce((a, l) => a + l, 0) * meanPeak * shape.sizeOverPeak;
  return { lambda, s, gap, demand, aim: shape.aim, maxReady: shape.maxReady };
}

const shapes: Shape[] = [
  { name: 'CI-like: peaks to 30, 100 machines', maxPeak: 30, maxReady: 100, zeroSlots: 0.1, distinctRates: 0, aim: 0.95, sizeOverPeak: 1.2 },
  { name: 'high aim', maxPeak: 30, maxReady: 100, zeroSlots: 0.1, distinctRates: 0, aim: 0.9999, sizeOverPeak: 1 },
  { name: 'low aim (holding nothing may reach it)', maxPeak: 12, maxReady: 40, zeroSlots: 0.2, distinctRates: 0, aim: 0.01, sizeOverPeak: 2 },
  { name: 'unreachable aim (peaks above maxReady)', maxPeak: 60, maxReady: 10, zeroSlots: 0, distinctRates: 0, aim: 0.999, sizeOverPeak: 1 },
  { name: 'ties: slots share three rates', maxPeak: 20, maxReady: 64, zeroSlots: 0.3, distinctRates: 3, aim: 0.9, sizeOverPeak: 1.1 },
  { name: 'ties: every slot the same rate', maxPeak: 8, maxReady: 16, zeroSlots: 0, distinctRates: 1, aim: 0.97, sizeOverPeak: 1 },
  { name: 'mostly quiet week', maxPeak: 5, maxReady: 100, zeroSlots: 0.9, distinctRates: 0, aim: 0.99, sizeOverPeak: 1.5 },
];

describe('bisectedHolds (the exact threshold search)', () => {
  it.each(shapes)('$name: the same holds and hit rate as the bisection, whatever the search starts from', (shape) => {
    const rng = new Rng(shape.maxPeak * 1000 + shape.maxReady);
    // Solved in a row, each search starts from the threshold of the one before: related
    // (a small change, as between two passes) and unrelated (another problem) starts.
    let p = problem(shape, rng);
    for (let round = 0; round < 25; round++) {
      const got = bisectedHolds(p);
      const want = reference(p);
      expect(Array.from(got.holds)).toEqual(want.holds);
      expect(Object.is(got.hit, want.hit)).toBe(true);
      if (round % 2 === 0) {
        // a nearby problem: one slot's rate moves a little, and the aim with it
        const lambda = Float64Array.from(p.lambda);
        const i = Math.floor(rng.next() * lambda.length);
        lambda[i] = lambda[i]! * (0.9 + 0.2 * rng.next());
        p = { ...p, lambda, aim: Math.min(0.9999, p.aim * (0.999 + 0.002 * rng.next())) };
      } else p = problem(shape, rng);
    }
  });

  it('holds nothing for slots without bursts, and never more than maxReady', () => {
    const p = problem(shapes[0]!, new Rng(3));
    const { holds } = bisectedHolds(p);
    p.lambda.forEach((l, i) => {
      if (l === 0) expect(holds[i]).toBe(0);
      expect(holds[i]).toBeLessThanOrEqual(p.maxReady);
    });
  });
});
