/** What a simulated pool's sizing policy is: its controller (the target over time) and its pass cadence. */
import type { PoolSpec } from '../domain/pool-spec.js';
import type { BootModel } from './rng.js';

/** What a policy sees when it sets the target at a pass. */
export interface PoolView {
  ready: number;
  booting: number;
  claimed: number;
  /** Jobs waiting for a machine. */
  waiting: number;
}

/** A sizing policy's per-run state: the target at each pass, and what it learns from claims. */
export interface SizingController {
  target(now: number, view: PoolView): number;
  /** A claim happened (count machines asked for, warm of them served from ready ones). */
  observe?(now: number, claim: { count: number; warm: number }): void;
}

export interface Cadence {
  /** Scheduled pass period. */
  passEveryS: number;
  /** Refill passes after claims and teardowns, and watch passes after boots (warmer's deployment). */
  eventDriven: boolean;
  /** Seconds from a claim to its refill pass (Pub/Sub + function start). */
  refillDelayS: number;
  /** Creations per pass (spec.createThrottle) override; null keeps the spec's. */
  createThrottle: number | null;
  /** At most this many machines booting at once (vmpooler's ondemand limit); null: no cap. */
  maxInFlight: number | null;
}

export const WARMER_CADENCE: Cadence = { passEveryS: 60, eventDriven: true, refillDelayS: 2, createThrottle: null, maxInFlight: null };

export interface Policy {
  name: string;
  cadence: Cadence;
  /** A fresh controller per run (no state shared between runs), told the run's boot model. */
  controller(spec: PoolSpec, run: { boot: BootModel }): SizingController;
}

export interface SimOptions {
  spec: PoolSpec;
  boot: BootModel;
  seed: number;
  /** Seconds a teardown takes to delete the machine. */
  deleteS: number;
  /** Jobs starting before this (epoch ms) are replayed but not counted, nor VM time before it. */
  measureFromMs?: number;
  /** The pool starts empty this long before the first job. */
  leadInS?: number;
  /** Also plan every quiet pass and fail if it planned anything (tests: the skip is exact). */
  verifyQuietPasses?: boolean;
}

export interface SimResult {
  name: string;
  jobs: number;
  warm: number;
  /** Waits of the cold jobs, ms, ascending. */
  coldWaitsMs: number[];
  idleMs: number;
  totalMs: number;
  machinesCreated: number;
  bootFailures: number;
  passes: number;
  /** Passes where planReconcile would plan nothing (quiet-pass.ts): counted, not computed. */
  skippedPasses: number;
}
