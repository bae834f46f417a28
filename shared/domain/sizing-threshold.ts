/**
 * The Lagrange threshold behind demand sizing's solve (sizing-solve.ts). Per slot i the
 * hold at a threshold μ > 0 is the largest r with λᵢ·s[r] ≥ μ (s is non-increasing, so it
 * is the number of machines whose value λᵢ·s[k] is at least μ), and the predicted hit rate
 * of holds H is 1 − Σᵢ λᵢ·gap[Hᵢ] / demand (summed in slot order). The solve keeps the
 * holds of the largest μ that still reaches the aim, as a bisection in log μ finds it:
 * from log(maxλ·1e-9) to log(maxλ·1.000001), at most 40 halvings, down to a width of 1e-6.
 *
 * That bisection's answer depends on one number only: μ*, the largest machine value whose
 * holds still reach the aim (hit rate only changes where μ crosses a machine's value, and
 * falls as μ grows, so a step "reaches the aim at μ" exactly when μ ≤ μ*). This file finds
 * μ* exactly, replays the bisection's steps as comparisons with it, and evaluates holds
 * and hit rate once, at the point the bisection ends: the same answer to the last bit,
 * with a handful of evaluations instead of about 27.
 *
 * μ* is found by walking from one machine value to the next (each step adds or removes
 * the machines worth exactly that value) from a start: the last threshold found (passes
 * of one pool change its profile a little at a time, so μ* moves a few machines at most),
 * else a coarse bisection that stops when few machines separate a reaching threshold
 * from a missing one. The start only decides how much work the search does, never its
 * answer (test/unit/sizing-threshold.test.ts checks the answers against the bisection).
 */

export interface ThresholdProblem {
  /** Bursts per hour, per slot (≥ 0). */
  lambda: Float64Array;
  /** s[k] = P(peak ≥ k), k = 0..maxReady, non-increasing, s[0] = 1. */
  s: Float64Array;
  /** gap[r]: a burst's expected jobs that wait with r ready (non-increasing), r = 0..maxReady. */
  gap: Float64Array;
  /** Total demand: the denominator of the hit rate (> 0). */
  demand: number;
  aim: number;
  maxReady: number;
}

const MAX_STEPS = 40;
const TOLERANCE = 1e-6;
/** Machine values walked from the last threshold before falling back to a coarse bisection. */
const WALK_LIMIT = 24;

/** The last μ* found: where the next search starts (a hint: it changes how fast, not what). */
let lastThreshold = NaN;

/** Holds and predicted hit rate at the largest μ the bisection keeps (see the file comment). */
export function bisectedHolds(p: ThresholdProblem): { holds: Int32Array; hit: number } {
  const n = p.lambda.length;
  let maxL = -Infinity;
  for (let i = 0; i < n; i++) maxL = Math.max(maxL, p.lambda[i] as number);
  const x0 = Math.log(maxL * 1e-9); // reaches (nearly) everything
  const x1 = Math.log(maxL * 1.000001); // holds nothing
  let top = p.maxReady; // no μ > 0 holds a k with s[k] = 0
  while (top > 0 && (p.s[top] as number) === 0) top--;
  const search = new Search(p, top);
  const muStar = search.threshold(x0, x1);
  if (muStar > 0 && Number.isFinite(muStar)) lastThreshold = muStar;
  // The bisection, replayed: a step reaches the aim exactly when its μ is at most μ*.
  let lo = x0;
  let hi = x1;
  if (!(Math.exp(lo) <= muStar)) hi = lo;
  for (let i = 0; i < MAX_STEPS && hi - lo > TOLERANCE; i++) {
    const mid = (lo + hi) / 2;
    if (Math.exp(mid) <= muStar) lo = mid;
    else hi = mid;
  }
  const mu = Math.exp(lo);
  const holds = new Int32Array(n);
  search.holdsAt(mu, new Int32Array(n), new Int32Array(n).fill(mu > 0 ? top : p.maxReady), holds);
  return { holds, hit: search.hit(holds) };
}

class Search {
  private readonly n: number;
  constructor(
    private readonly p: ThresholdProblem,
    private readonly top: number,
  ) {
    this.n = p.lambda.length;
  }

  /** Holds at μ into `out`, slot i searched within [least[i], most[i]]. */
  holdsAt(mu: number, least: Int32Array, most: Int32Array, out: Int32Array): void {
    const { lambda, s } = this.p;
    for (let i = 0; i < this.n; i++) {
      const l = lambda[i] as number;
      let lo = 0;
      if (l > 0) {
        lo = least[i] as number;
        let hi = most[i] as number;
        while (lo < hi) {
          const mid = (lo + hi + 1) >> 1;
          if (l * (s[mid] as number) >= mu) lo = mid;
          else hi = mid - 1;
        }
      }
      out[i] = lo;
    }
  }

  hit(holds: Int32Array): number {
    const { lambda, gap, demand } = this.p;
    let missed = 0;
    for (let i = 0; i < this.n; i++) missed += (lambda[i] as number) * (gap[holds[i] as number] as number);
    return 1 - missed / demand;
  }

  private reaches(holds: Int32Array): boolean {
    return this.hit(holds) >= this.p.aim;
  }

  /** μ* (+∞ when holding nothing reaches the aim, −∞ when nothing does, for the bisection's range). */
  threshold(x0: number, x1: number): number {
    const { n } = this;
    const none = new Int32Array(n);
    const all = new Int32Array(n).fill(this.top);
    if (lastThreshold > 0) {
      const h = new Int32Array(n);
      this.holdsAt(lastThreshold, none, all, h);
      const found = this.reaches(h) ? this.walkUp(h, WALK_LIMIT) : this.walkDown(h, WALK_LIMIT);
      if (!Number.isNaN(found)) return found;
    }
    // A coarse bisection in log μ until few machines separate reaching from missing.
    let reach = new Int32Array(n);
    this.holdsAt(Math.exp(x0), none, all, reach);
    if (!this.reaches(reach)) return -Infinity;
    let miss = new Int32Array(n);
    this.holdsAt(Math.exp(x1), none, reach, miss);
    if (this.reaches(miss)) return Infinity;
    let xr = x0;
    let xm = x1;
    let spare = new Int32Array(n);
    while (xm - xr > 1e-12 && between(reach, miss) > WALK_LIMIT) {
      const x = (xr + xm) / 2;
      this.holdsAt(Math.exp(x), miss, reach, spare);
      const h = spare;
      if (this.reaches(h)) {
        spare = reach;
        reach = h;
        xr = x;
      } else {
        spare = miss;
        miss = h;
        xm = x;
      }
    }
    return this.walkUp(reach, Infinity);
  }

  /**
   * From holds that reach the aim, remove machines in order of value (all of equal value
   * at once) until the holds miss it: μ* is the value last removed. NaN after `limit` steps.
   */
  private walkUp(holds: Int32Array, limit: number): number {
    const { lambda, s } = this.p;
    for (let step = 0; step < limit; step++) {
      let v = Infinity;
      for (let i = 0; i < this.n; i++) {
        const h = holds[i] as number;
        if (h > 0) v = Math.min(v, (lambda[i] as number) * (s[h] as number));
      }
      if (v === Infinity) return Infinity;
      for (let i = 0; i < this.n; i++) {
        const l = lambda[i] as number;
        let h = holds[i] as number;
        while (h > 0 && l * (s[h] as number) <= v) h--;
        holds[i] = h;
      }
      if (!this.reaches(holds)) return v;
    }
    return NaN;
  }

  /** From holds that miss the aim, add machines in order of value until they reach it: μ* is the value last added. */
  private walkDown(holds: Int32Array, limit: number): number {
    const { lambda, s } = this.p;
    const { top } = this;
    for (let step = 0; step < limit; step++) {
      let v = -Infinity;
      for (let i = 0; i < this.n; i++) {
        const l = lambda[i] as number;
        const h = holds[i] as number;
        if (l > 0 && h < top) v = Math.max(v, l * (s[h + 1] as number));
      }
      if (v === -Infinity) return -Infinity;
      for (let i = 0; i < this.n; i++) {
        const l = lambda[i] as number;
        let h = holds[i] as number;
        if (l > 0) while (h < top && l * (s[h + 1] as number) >= v) h++;
        holds[i] = h;
      }
      if (this.reaches(holds)) return v;
    }
    return NaN;
  }
}

/** Machines held in `more` but not in `fewer`. */
function between(more: Int32Array, fewer: Int32Array): number {
  let d = 0;
  for (let i = 0; i < more.length; i++) d += (more[i] as number) - (fewer[i] as number);
  return d;
}
