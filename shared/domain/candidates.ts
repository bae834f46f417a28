/**
 * Which ready machines a claim takes. Pure: the caller passes `now` and the random source.
 *
 * A claim takes the oldest ready machines, approximately: it picks at random among the
 * oldest `count + window`, so concurrent claimers spread out instead of all trying the
 * same documents. A claimer that lost a race widens its window. Both stores use it: the
 * in-memory store with a window of 0 (exactly the oldest), the Firestore store with a
 * window that starts at SPREAD_WINDOW.
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

  /** The last read of the pool's candidates, oldest first, if still fresh at `now`. */
  cached(pool: string, now: number): string[] {
    const entry = this.#candidates.get(pool);
    return entry && entry.until > now ? entry.names : [];
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
