/**
 * A per-pool circuit breaker for creations, so a bad image or a broken network cannot
 * create and delete machines in a loop. Pure: `now` (epoch ms) is passed in.
 *
 *   closed ──failure ratio ≥ R over the window (≥ N outcomes)──▶ open (base × 2^(opens−1), capped)
 *     ▲  ▲                                                        │ the backoff passes
 *     │  └─ a machine reaches ready ◀── half-open: exactly one probe create
 *     │                                     │ the probe (or any create) fails: open again, longer
 *     └── the pool's image or machine type changes (breakerForSpec): closed, from anywhere
 *
 * Outcomes are what the image and network decide: a machine that reached ready is a
 * success; an insert refused for a reason that counts (see the error-kind table) and a
 * boot timeout are failures. An insert that succeeded is not yet an outcome (a bad image
 * often inserts fine and never boots). The open time grows with the number of opens in a
 * row, never with the size of one batch of failures.
 */
export interface BreakerState {
  /** Failures since the last success (for logs and alerts). */
  consecutiveFailures: number;
  /** Epoch ms until which creations are refused; null when closed; in the past: half-open. */
  openUntil: number | null;
  /** Times it opened since it was last closed: the exponent of the backoff. */
  opens?: number;
  /** Outcomes per pass within the window (closed only). */
  window?: Array<{ at: number; ok: number; failed: number }>;
  /** Half-open: the one probe create was made; no other until it resolves or until this time. */
  probeUntil?: number | null;
  /** The image and machine type the state is about (`breakerKey`). */
  specKey?: string | null;
}

export interface BreakerPolicy {
  /** Outcomes older than this no longer count. */
  windowMs: number;
  /** Fewest outcomes in the window before the ratio can open the breaker. */
  minAttempts: number;
  /** Failures / outcomes in the window at which it opens. */
  failureRatio: number;
  /** How long it stays open the first time. */
  baseOpenMs: number;
  /** The longest it stays open. */
  maxOpenMs: number;
  /** How long a half-open probe may take before another one is allowed (boot timeout and a pass). */
  probeTimeoutMs: number;
}

export const DEFAULT_BREAKER_POLICY: BreakerPolicy = {
  windowMs: 10 * 60_000,
  minAttempts: 3,
  failureRatio: 0.5,
  baseOpenMs: 30_000,
  maxOpenMs: 15 * 60_000,
  probeTimeoutMs: 6 * 60_000,
};

/** The policy for a pool: a half-open probe may take its boot timeout and a pass. */
export function breakerPolicyFor(spec: { bootTimeoutSeconds: number }, base: BreakerPolicy = DEFAULT_BREAKER_POLICY): BreakerPolicy {
  return { ...base, probeTimeoutMs: spec.bootTimeoutSeconds * 1000 + 60_000 };
}

export const CLOSED_BREAKER: BreakerState = { consecutiveFailures: 0, openUntil: null };

export type BreakerPhase = 'closed' | 'open' | 'half_open';

export function breakerPhase(state: BreakerState, now: number): BreakerPhase {
  if (state.openUntil === null) return 'closed';
  return now < state.openUntil ? 'open' : 'half_open';
}

/** Whether a half-open breaker's one probe create is still out. */
export function probeInFlight(state: BreakerState, now: number): boolean {
  return breakerPhase(state, now) === 'half_open' && state.probeUntil != null && now < state.probeUntil;
}

/**
 * How many creations may be attempted now: unlimited when closed, 0 when open, exactly
 * one when half-open (and none while that one probe is out).
 */
export function breakerCreateLimit(state: BreakerState, now: number): number {
  const phase = breakerPhase(state, now);
  if (phase === 'closed') return Infinity;
  if (phase === 'open') return 0;
  return probeInFlight(state, now) ? 0 : 1;
}

/** How long the breaker stays open after its `opens`-th opening in a row (1 = first). */
export function openDurationMs(opens: number, policy: BreakerPolicy = DEFAULT_BREAKER_POLICY): number {
  const doublings = Math.min(Math.max(opens - 1, 0), 30);
  return Math.min(policy.baseOpenMs * 2 ** doublings, policy.maxOpenMs);
}

/** What the breaker judges: a change of either is a new image to try. */
export function breakerKey(spec: { image: string; machineType: string }): string {
  return `${spec.image}|${spec.machineType}`;
}

/**
 * The breaker for the pool's current spec: closed when the image or machine type changed
 * since it was last recorded (a `PUT` that fixes the image must not wait out the backoff).
 * A state with no key (written before keys) is adopted as it is.
 */
export function breakerForSpec(state: BreakerState, spec: { image: string; machineType: string }): BreakerState {
  const key = breakerKey(spec);
  if (state.specKey == null) return { ...state, specKey: key };
  if (state.specKey === key) return state;
  return { ...CLOSED_BREAKER, specKey: key };
}

export interface CreateOutcomes {
  /** Machines that reached ready (the image and network work). */
  succeeded: number;
  /** Creates that failed in a way that counts: refused inserts, boot timeouts. */
  failed: number;
  /** Inserts that succeeded this pass (their outcome comes later). */
  started?: number;
}

/** Passes remembered in the window (a bound on the stored document, not a policy). */
const MAX_BUCKETS = 60;

const closed = (state: BreakerState): BreakerState => ({ ...CLOSED_BREAKER, specKey: state.specKey ?? null });

function open(state: BreakerState, consecutiveFailures: number, now: number, policy: BreakerPolicy): BreakerState {
  const opens = (state.opens ?? 0) + 1;
  return { consecutiveFailures, openUntil: now + openDurationMs(opens, policy), opens, window: [], probeUntil: null, specKey: state.specKey ?? null };
}

/**
 * Folds one pass's creation outcomes into the breaker.
 * - closed: the outcomes join the window; it opens when the window holds at least
 *   `minAttempts` outcomes and the failure ratio reaches `failureRatio`;
 * - open: a machine reaching ready closes it; failures change nothing (it is open);
 * - half-open: a machine reaching ready closes it; a failure opens it again for twice as
 *   long (capped); a started insert is the one probe: no other until it resolves or
 *   `probeTimeoutMs` passes.
 */
export function recordCreateResults(state: BreakerState, results: CreateOutcomes, now: number, policy: BreakerPolicy = DEFAULT_BREAKER_POLICY): BreakerState {
  const succeeded = Math.max(0, results.succeeded);
  const failed = Math.max(0, results.failed);
  const started = Math.max(0, results.started ?? 0);
  const consecutiveFailures = succeeded > 0 ? 0 : state.consecutiveFailures + failed;
  const phase = breakerPhase(state, now);

  if (phase === 'closed') {
    if (succeeded === 0 && failed === 0) return state;
    const window = [...(state.window ?? []).filter((b) => b.at > now - policy.windowMs), { at: now, ok: succeeded, failed }].slice(-MAX_BUCKETS);
    const ok = window.reduce((n, b) => n + b.ok, 0);
    const bad = window.reduce((n, b) => n + b.failed, 0);
    if (ok + bad >= policy.minAttempts && bad / (ok + bad) >= policy.failureRatio) return open(state, consecutiveFailures, now, policy);
    return { ...state, consecutiveFailures, window };
  }
  if (succeeded > 0) return closed(state);
  if (phase === 'open') return failed > 0 ? { ...state, consecutiveFailures } : state;
  // half-open
  if (failed > 0) return open(state, consecutiveFailures, now, policy);
  if (started > 0 && !probeInFlight(state, now)) return { ...state, probeUntil: now + policy.probeTimeoutMs };
  return state;
}

/**
 * Machines that reached ready since `since` (epoch ms), among records read at the start of
 * a pass: those made ready between passes (a refill's boot watch) count for the breaker too.
 */
export function readiedSince(records: ReadonlyArray<{ state: string; stateChangedAt: Partial<Record<string, number>> }>, since: number): number {
  return records.filter((r) => (r.state === 'ready' || r.state === 'claimed') && (r.stateChangedAt.ready ?? -Infinity) > since).length;
}
