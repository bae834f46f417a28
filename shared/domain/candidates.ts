/**
 * Which ready machines a claim takes. Pure: the caller passes `now` and the random source.
 *
 * A claim takes the oldest ready machines, approximately: it picks at random among the
 * oldest `count + window`, so concurrent claimers spread out instead of all trying the
 * same documents. Both stores use it: the in-memory store with a window of 0 (exactly the
 * oldest), the Firestore store with the window of its ContentionWindow: SPREAD_WINDOW
 * while claims do not collide, wider (for every claim of the process, not only the one
 * that lost) after each race lost to another instance, narrowing again once they stop.
 */

/** A source of uniformly distributed numbers in [0, 1) (Math.random in production). */
export type Random = () => number;

/** How many of the oldest ready machines a claimer first picks among. */
export const SPREAD_WINDOW = 16;
/** The widest a claimer that keeps losing races spreads. */
export const MAX_SPREAD_WINDOW = 128;

/** The window after a lost race: twice as wide, up to MAX_SPREAD_WINDOW. */
export const widenedWindow = (window: number): number => Math.min(window * 2, MAX_SPREAD_WINDOW);

/**
 * Picks `count` names at random among the first `count + window` of `oldestFirst`, and
 * returns them oldest first. Fewer than `count` names: all of them.
 */
export function pickAmongOldest(oldestFirst: readonly string[], count: number, window: number, random: Random): string[] {
  const idx = oldestFirst.slice(0, count + window).map((_, i) => i);
  // Partial Fisher–Yates: the first `count` positions end up a uniform random subset.
  const take = Math.min(count, idx.length);
  for (let i = 0; i < take; i++) {
    const j = i + Math.floor(random() * (idx.length - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx
    .slice(0, take)
    .sort((a, b) => a - b)
    .map((i) => oldestFirst[i]!);
}

/**
 * What one process remembers about a pool's candidates between claims: the last
 * candidate read (reused for `cacheMs`), and the names it saw taken (skipped for twice
 * that, as long as a read that started before the take may still return them).
 */
export class CandidateMemory {
  readonly #cacheMs: number;
  readonly #candidates = new Map<string, { names: string[]; until: number }>();
  readonly #taken = new Map<string, Map<string, number>>();

  constructor(cacheMs: number) {
    this.#cacheMs = cacheMs;
  }

  /**
   * The last read of the pool's candidates, oldest first, if still fresh at `now`; with
   * `maxAgeMs` (shorter than the cache time), only if read within it.
   */
  cached(pool: string, now: number, maxAgeMs = this.#cacheMs): string[] {
    const entry = this.#candidates.get(pool);
    return entry && entry.until > now && entry.until - this.#cacheMs + Math.min(maxAgeMs, this.#cacheMs) > now ? entry.names : [];
  }

  /**
   * The last read of the pool's candidates if read within `maxStaleMs` of `now`, fresh or
   * not, less what was seen taken since: for a claim after an idle gap, whose transaction
   * verifies what it picks.
   */
  stale(pool: string, now: number, maxStaleMs: number): string[] {
    const entry = this.#candidates.get(pool);
    return entry && now < entry.until - this.#cacheMs + maxStaleMs ? entry.names : [];
  }

  /** A fresh read of the pool's candidates, oldest first. */
  remember(pool: string, names: string[], now: number): void {
    this.#candidates.set(pool, { names, until: now + this.#cacheMs });
  }

  /** Names seen taken: dropped from the cached candidates and skipped for a while. */
  forget(pool: string, names: readonly string[], now: number): void {
    const entry = this.#candidates.get(pool);
    if (entry) entry.names = entry.names.filter((n) => !names.includes(n));
    let taken = this.#taken.get(pool);
    if (!taken) this.#taken.set(pool, (taken = new Map()));
    const until = now + this.#cacheMs * 2;
    for (const n of names) taken.set(n, until);
  }

  /** Names of the pool seen taken and not yet forgotten at `now`. */
  recentlyTaken(pool: string, now: number): ReadonlySet<string> {
    const taken = this.#taken.get(pool) ?? new Map<string, number>();
    for (const [n, until] of taken) if (until <= now) taken.delete(n);
    return new Set(taken.keys());
  }
}

/** How long a widened window holds without a new lost race before it halves. */
export const WINDOW_DECAY_MS = 2_000;

/**
 * Per pool, how widely this process's claims spread: SPREAD_WINDOW while they win their
 * races, twice as wide (up to MAX_SPREAD_WINDOW) after each race lost, halving for every
 * WINDOW_DECAY_MS without one. Races are lost to other instances (claims of one process
 * never pick the same machine), so the window grows with the contention the process
 * sees, not with its own concurrency.
 */
export class ContentionWindow {
  readonly #byPool = new Map<string, { window: number; at: number }>();

  constructor(
    readonly base = SPREAD_WINDOW,
    readonly decayMs = WINDOW_DECAY_MS,
  ) {}

  current(pool: string, now: number): number {
    const e = this.#byPool.get(pool);
    if (!e) return this.base;
    const halvings = Math.floor(Math.max(0, now - e.at) / this.decayMs);
    const w = Math.max(this.base, Math.floor(e.window / 2 ** Math.min(halvings, 30)));
    if (w === this.base) this.#byPool.delete(pool);
    return w;
  }

  /** A race lost at `now`: returns the wider window (which every claim of the pool now uses). */
  lost(pool: string, now: number): number {
    const window = widenedWindow(Math.max(this.current(pool, now), this.base));
    this.#byPool.set(pool, { window, at: now });
    return window;
  }

  /**
   * How long a cached read of the pool's candidates may be reused at `now`: `cacheMs` at
   * the base window, shorter as the window widens (other instances are taking machines,
   * so the cached list goes stale sooner).
   */
  cacheAgeMs(pool: string, now: number, cacheMs: number): number {
    return Math.floor((cacheMs * this.base) / this.current(pool, now));
  }
}
