/** A seeded random number generator (mulberry32), so simulations are reproducible. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/** How long machines take to boot: log-normal around a median, and a share that never boots. */
export interface BootModel {
  medianS: number;
  /** Log-normal shape (0.35: p95 ≈ 1.8 × median). */
  sigma: number;
  /** Share of machines that never answer (torn down at the boot timeout). */
  failureRate: number;
}

/** Boot to SSH on Compute Engine is typically 20 to 60 s (FACTS.md). */
export const DEFAULT_BOOT_MODEL: BootModel = { medianS: 45, sigma: 0.35, failureRate: 0.02 };

/** A boot time in ms, or Infinity for a machine that never boots. */
export function sampleBootMs(rng: Rng, model: BootModel): number {
  const failed = rng.next() < model.failureRate;
  const t = model.medianS * Math.exp(model.sigma * rng.normal()) * 1000;
  return failed ? Infinity : Math.max(1000, Math.round(t));
}
