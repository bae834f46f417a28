/**
 * A pool's compact claim history for demand sizing (see sizing.ts): claims per minute for
 * the last 3 hours, a decayed hour-of-week profile of bursts and claims, and decayed
 * histograms of burst sizes and of burst peaks within a few windows. Pure: every function
 * takes `now` (epoch ms) and returns new values.
 */
export const SIZING_HISTORY_VERSION = 1;
/** Claims closer than this belong to one burst. */
export const BURST_GAP_MS = 60_000;
/**
 * Windows (seconds) over which a burst's peak demand is measured. What a pool must hold
 * ready is the demand within one refill time (about one boot), not the whole burst: the
 * window nearest the pool's lead time is used.
 */
export const PEAK_WINDOWS_S = [30, 60, 120, 300] as const;
const MAX_OPEN_CLAIM_TIMES = 2000;
/** Per-minute claim counts kept (3 hours). */
export const RECENT_MINUTES = 180;
export const WEEK_HOURS = 168;
export const HOUR_MS = 3_600_000;
export const MINUTE_MS = 60_000;
/** Profile and burst sizes halve in weight every 3 weeks of history. */
export const PROFILE_HALF_LIFE_HOURS = 3 * WEEK_HOURS;
const HOURLY_DECAY = 0.5 ** (1 / PROFILE_HALF_LIFE_HOURS);
/** Served warm/cold tallies (the aim correction) halve every week. */
const SERVED_DECAY = 0.5 ** (1 / WEEK_HOURS);
/** Bursts bigger than this count as this big. */
export const MAX_BURST = 1000;
/** After this many idle hours the profile is only decayed in bulk (no per-hour loop). */
const MAX_ROLL_HOURS = 4 * WEEK_HOURS;
/** Weight below which a histogram entry is dropped. */
const PRUNE_WEIGHT = 1e-3;
export interface DemandProfile {
  /** Per hour-of-week slot (0 = Monday 00:00 UTC), decayed: bursts started. */
  bursts: number[];
  /** Per slot, decayed: claims. */
  claims: number[];
  /** Per slot, decayed: hours observed. */
  hours: number[];
  /** Decayed burst-size histogram: size (as a string key) → weight. */
  burstSizes: Record<string, number>;
  /** Per peak window (seconds, as a key): decayed histogram of the most claims of a burst within that window. */
  burstPeaks: Record<string, Record<string, number>>;
}

export interface DemandHistory {
  version: typeof SIZING_HISTORY_VERSION;
  /** Start of the hour being accumulated into `current`; null before the first roll. */
  hourStart: number | null;
  /** Start of the minute `minutes[minutes.length − 1]` counts; null before the first claim. */
  minuteStart: number | null;
  /** Claims per minute for the last RECENT_MINUTES minutes, oldest first. */
  minutes: number[];
  /** The learned part (replaced, never mutated, so solutions can be cached on it). */
  profile: DemandProfile;
  /** This hour so far, folded into the profile (and `served`) when the hour rolls. */
  current: { bursts: number; claims: number; warm: number; cold: number; predicted: number } & Scored;
  /** The burst in progress. */
  openBurst: { startedAt: number; lastAt: number; size: number; peaks: number[]; recent: number[] } | null;
  /** Decayed claims served warm and cold, and those scored against a prediction (the aim's calibration). */
  served: { warm: number; cold: number; predicted: number } & Scored;
}

/**
 * Claims that came with a profile prediction (the calibration's sample): how many, and how
 * many of them waited. `predicted` sums the predicted hit rate over exactly these claims.
 * Optional for histories saved before calibration existed (read as 0).
 */
export interface Scored {
  scored?: number;
  scoredCold?: number;
}

export function hourOfWeek(now: number): number {
  // 1970-01-01 was a Thursday: +72 h puts Monday 00:00 at slot 0.
  return (((Math.floor(now / HOUR_MS) + 72) % WEEK_HOURS) + WEEK_HOURS) % WEEK_HOURS;
}

export function emptyHistory(): DemandHistory {
  return {
    version: SIZING_HISTORY_VERSION,
    hourStart: null,
    minuteStart: null,
    minutes: [],
    profile: { bursts: zeros(), claims: zeros(), hours: zeros(), burstSizes: {}, burstPeaks: {} },
    current: { bursts: 0, claims: 0, warm: 0, cold: 0, predicted: 0 },
    openBurst: null,
    served: { warm: 0, cold: 0, predicted: 0 },
  };
}

export function zeros(): number[] {
  return new Array<number>(WEEK_HOURS).fill(0);
}

function addBurstSize(sizes: Record<string, number>, size: number): Record<string, number> {
  const key = String(Math.min(MAX_BURST, Math.max(1, Math.round(size))));
  return { ...sizes, [key]: (sizes[key] ?? 0) + 1 };
}

/**
 * Brings the history up to `now`: closes a burst that ended, folds finished hours into
 * the hour-of-week profile (decaying it), and drops minute counts older than the window.
 * Idempotent for the same `now`; returns the same object when nothing changes.
 */
export function rollHistory(h: DemandHistory, now: number): DemandHistory {
  let next = h;
  if (h.openBurst !== null && now - h.openBurst.lastAt > BURST_GAP_MS) {
    const open = h.openBurst;
    const burstPeaks: Record<string, Record<string, number>> = { ...next.profile.burstPeaks };
    PEAK_WINDOWS_S.forEach((w, i) => {
      burstPeaks[String(w)] = addBurstSize(burstPeaks[String(w)] ?? {}, open.peaks[i] ?? open.size);
    });
    next = { ...next, openBurst: null, profile: { ...next.profile, burstSizes: addBurstSize(next.profile.burstSizes, open.size), burstPeaks } };
  }
  const hourNow = Math.floor(now / HOUR_MS) * HOUR_MS;
  if (next.hourStart === null) {
    next = { ...next, hourStart: hourNow };
  } else if (hourNow > next.hourStart) {
    const elapsed = Math.round((hourNow - next.hourStart) / HOUR_MS);
    const bursts = [...next.profile.bursts];
    const claims = [...next.profile.claims];
    const hours = [...next.profile.hours];
    const decayAll = (f: number) => {
      for (let i = 0; i < WEEK_HOURS; i++) {
        bursts[i] = (bursts[i] as number) * f;
        claims[i] = (claims[i] as number) * f;
        hours[i] = (hours[i] as number) * f;
      }
    };
    // The finished hour first, then the empty hours after it (at most MAX_ROLL_HOURS one by one).
    const loop = Math.min(elapsed, MAX_ROLL_HOURS);
    for (let i = 0; i < loop; i++) {
      decayAll(HOURLY_DECAY);
      const slot = hourOfWeek(next.hourStart + i * HOUR_MS);
      hours[slot] = (hours[slot] as number) + 1;
      if (i === 0) {
        bursts[slot] = (bursts[slot] as number) + next.current.bursts;
        claims[slot] = (claims[slot] as number) + next.current.claims;
      }
    }
    if (elapsed > loop) decayAll(HOURLY_DECAY ** (elapsed - loop));
    const factor = HOURLY_DECAY ** elapsed;
    const decayHist = (hist: Record<string, number>) => {
      const out: Record<string, number> = {};
      for (const [k, w] of Object.entries(hist)) if (w * factor >= PRUNE_WEIGHT) out[k] = w * factor;
      return out;
    };
    const burstSizes = decayHist(next.profile.burstSizes);
    const burstPeaks: Record<string, Record<string, number>> = {};
    for (const [w, hist] of Object.entries(next.profile.burstPeaks)) burstPeaks[w] = decayHist(hist);
    const sf = SERVED_DECAY ** elapsed;
    next = {
      ...next,
      hourStart: hourNow,
      profile: { bursts, claims, hours, burstSizes, burstPeaks },
      current: { bursts: 0, claims: 0, warm: 0, cold: 0, predicted: 0 },
      served: {
        warm: (next.served.warm + next.current.warm) * sf,
        cold: (next.served.cold + next.current.cold) * sf,
        predicted: (next.served.predicted + next.current.predicted) * sf,
        scored: ((next.served.scored ?? 0) + (next.current.scored ?? 0)) * sf,
        scoredCold: ((next.served.scoredCold ?? 0) + (next.current.scoredCold ?? 0)) * sf,
      },
    };
  }
  if (next.minuteStart !== null) {
    const minuteNow = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    const shift = Math.round((minuteNow - next.minuteStart) / MINUTE_MS);
    if (shift > 0) {
      // The last RECENT_MINUTES of the counts followed by `shift` empty minutes (passes ask every minute: no spreads).
      const pad = Math.min(shift, RECENT_MINUTES);
      const old = next.minutes;
      const keep = Math.min(old.length, RECENT_MINUTES - pad);
      const minutes = old.slice(old.length - keep);
      for (let i = 0; i < pad; i++) minutes.push(0);
      next = { ...next, minuteStart: minuteNow, minutes };
    }
  }
  return next;
}

export interface ClaimObservation {
  /** Machines asked for. */
  count: number;
  /** Of those, how many were served from ready machines (the rest waited). */
  warm: number;
  /**
   * The warm-hit rate the pool's profile predicted when the claim came (the aim's
   * calibration); absent when the pool sized from recent bursts or by a fixed target.
   */
  predictedHitRate?: number;
}

/** Records one claim (hit or miss: both are demand). */
export function recordClaim(h: DemandHistory, now: number, claim: ClaimObservation): DemandHistory {
  const rolled = rollHistory(h, now);
  const count = Math.max(0, Math.round(claim.count));
  if (count === 0) return rolled;
  const warm = Math.min(count, Math.max(0, claim.warm));
  const minuteNow = Math.floor(now / MINUTE_MS) * MINUTE_MS;
  let minutes = [count];
  if (rolled.minuteStart !== null && rolled.minutes.length > 0) {
    minutes = rolled.minutes.slice();
    minutes[minutes.length - 1] = (minutes.at(-1) ?? 0) + count;
  }
  const startsBurst = rolled.openBurst === null;
  return {
    ...rolled,
    minuteStart: rolled.minuteStart ?? minuteNow,
    minutes,
    current: {
      bursts: rolled.current.bursts + (startsBurst ? 1 : 0),
      claims: rolled.current.claims + count,
      warm: rolled.current.warm + warm,
      cold: rolled.current.cold + (count - warm),
      predicted: rolled.current.predicted + (claim.predictedHitRate ?? 0) * count,
      scored: (rolled.current.scored ?? 0) + (claim.predictedHitRate === undefined ? 0 : count),
      scoredCold: (rolled.current.scoredCold ?? 0) + (claim.predictedHitRate === undefined ? 0 : count - warm),
    },
    openBurst: extendBurst(rolled.openBurst, now, count),
  };
}

function extendBurst(open: DemandHistory['openBurst'], now: number, count: number): NonNullable<DemandHistory['openBurst']> {
  const longest = Math.max(...PEAK_WINDOWS_S) * 1000;
  const recent = open === null ? [] : open.recent.filter((t) => now - t < longest);
  for (let i = 0; i < count && recent.length < MAX_OPEN_CLAIM_TIMES; i++) recent.push(now);
  // Claims within each window, counted in one pass over the claim times.
  const inWindow = new Array<number>(PEAK_WINDOWS_S.length).fill(0);
  for (const t of recent) {
    for (let i = 0; i < PEAK_WINDOWS_S.length; i++) if (now - t < (PEAK_WINDOWS_S[i] as number) * 1000) inWindow[i] = (inWindow[i] as number) + 1;
  }
  const peaks = inWindow.map((c, i) => Math.max(open?.peaks[i] ?? 0, c));
  return { startedAt: open?.startedAt ?? now, lastAt: now, size: (open?.size ?? 0) + count, peaks, recent };
}

/** Index in PEAK_WINDOWS_S of the window nearest the lead time. */
export function nearestWindow(leadMs: number): number {
  let best = 0;
  PEAK_WINDOWS_S.forEach((w, i) => {
    if (Math.abs(w * 1000 - leadMs) < Math.abs((PEAK_WINDOWS_S[best] as number) * 1000 - leadMs)) best = i;
  });
  return best;
}

const mixedPeaks = new WeakMap<DemandProfile, Map<number, Record<string, number>>>();

/**
 * The histogram of burst peaks within one lead time: between two measured windows it is
 * the mix of their histograms, weighted by where the lead falls between them (outside
 * them, the nearest window); the burst sizes when no peak was measured yet.
 */
export function peaksFor(p: DemandProfile, leadMs: number): Record<string, number> {
  let byLead = mixedPeaks.get(p);
  const cached = byLead?.get(leadMs);
  if (cached) return cached;
  const lead = leadMs / 1000;
  const hist = (w: number) => p.burstPeaks[String(w)];
  let out: Record<string, number> | undefined;
  const upper = PEAK_WINDOWS_S.findIndex((w) => w >= lead);
  if (upper <= 0) out = hist(PEAK_WINDOWS_S[upper === -1 ? PEAK_WINDOWS_S.length - 1 : 0] as number);
  else {
    const lo = PEAK_WINDOWS_S[upper - 1] as number;
    const hi = PEAK_WINDOWS_S[upper] as number;
    const a = hist(lo);
    const b = hist(hi);
    out = a && b ? mixHistograms(a, b, (lead - lo) / (hi - lo)) : (a ?? b);
  }
  const result = out ?? p.burstSizes;
  if (!byLead) {
    byLead = new Map();
    mixedPeaks.set(p, byLead);
  }
  byLead.set(leadMs, result);
  return result;
}

/** (1 − t)·a + t·b, each normalised to its total, scaled back to a's total (the weight of bursts seen). */
function mixHistograms(a: Record<string, number>, b: Record<string, number>, t: number): Record<string, number> {
  const total = (h: Record<string, number>) => Object.values(h).reduce((x, y) => x + y, 0);
  const ta = total(a);
  const tb = total(b);
  if (ta === 0 || tb === 0) return ta === 0 ? b : a;
  const out: Record<string, number> = {};
  for (const [k, w] of Object.entries(a)) out[k] = (1 - t) * w;
  for (const [k, w] of Object.entries(b)) out[k] = (out[k] ?? 0) + t * w * (ta / tb);
  return out;
}

export const sumOf = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
