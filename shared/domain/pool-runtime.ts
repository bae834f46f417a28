import type { BreakerState } from './breaker.js';

/** What reconcile remembers about a pool between passes. Written by reconcile only, never on a claim. */
export interface PoolRuntime {
  /** zone → epoch ms until which it is considered stocked out. */
  coldZones: Record<string, number>;
  breaker: BreakerState;
  /**
   * instance → epoch ms of its last probe, so ready and claimed machines are probed at
   * most once per `healthCheck.intervalSeconds` (kept here, not on the instance records,
   * so probing never conflicts with claims). Booting machines are probed every pass.
   */
  probedAt?: Record<string, number>;
  lastPass: {
    startedAt: number;
    durationMs: number;
    created: number;
    tornDown: number;
    orphansDeleted: number;
    error: string | null;
  } | null;
}

export const emptyRuntime = (): PoolRuntime => ({ coldZones: {}, breaker: { consecutiveFailures: 0, openUntil: null }, lastPass: null });

// ───────────────────────────── the lease, its fence and the dirty mark ─────────────────────────────

/**
 * The pool's lease as stored next to its runtime. `generation` is the fencing token: it
 * grows on every acquire, so a pass whose lease expired and was taken by another can
 * never pass the fence again, even when both passes share a holder name.
 */
export interface PoolLease {
  holder: string;
  generation: number;
  /** Epoch ms the lease expires unless renewed. */
  until: number;
  /** Epoch ms the pass holding it started (a request published before that is covered). */
  since: number;
}

/** Everything poolRuntime/{pool} holds. */
export interface PoolRuntimeDoc {
  lease: PoolLease | null;
  /** The last generation handed out (kept when the lease is released). */
  generation: number;
  /** Grows each time a refill request finds a pass running: that pass runs again. */
  dirtySeq: number;
  dirtyAt: number | null;
  runtime: PoolRuntime;
}

/** What a pass holds: the fencing token it checks before each create and delete. */
export interface LeaseGrant {
  pool: string;
  holder: string;
  generation: number;
  /** The dirty mark when the lease was taken (or the pass last re-ran). */
  dirtySeq: number;
}

/** What asking for a pass gives: the lease, or why no pass of its own is needed. */
export type PassClaim =
  | { kind: 'acquired'; lease: LeaseGrant }
  /** A pass that started at or after the request's publication already ran. */
  | { kind: 'covered' }
  /** Another pass runs: it started after the request (covers it) or was marked dirty (runs again). */
  | { kind: 'busy'; dirtied: boolean };

export const emptyRuntimeDoc = (): PoolRuntimeDoc => ({ lease: null, generation: 0, dirtySeq: 0, dirtyAt: null, runtime: emptyRuntime() });

/** Reads a stored document of any age (the first layout had `{ lease: {holder, until}, runtime }`). */
export function parseRuntimeDoc(data: unknown): PoolRuntimeDoc {
  const d = (data ?? {}) as Partial<PoolRuntimeDoc> & { lease?: Partial<PoolLease> | null };
  const lease =
    d.lease && typeof d.lease.holder === 'string' && typeof d.lease.until === 'number'
      ? { holder: d.lease.holder, until: d.lease.until, generation: d.lease.generation ?? 0, since: d.lease.since ?? d.lease.until }
      : null;
  return {
    lease,
    generation: Math.max(d.generation ?? 0, lease?.generation ?? 0),
    dirtySeq: d.dirtySeq ?? 0,
    dirtyAt: d.dirtyAt ?? null,
    runtime: d.runtime ?? emptyRuntime(),
  };
}

const leaseActive = (doc: PoolRuntimeDoc, now: number) => doc.lease !== null && doc.lease.until > now;

/** Whether `grant` still holds the pool's lease at `now` (same holder and generation, not expired). */
export function holdsLease(doc: PoolRuntimeDoc, grant: Pick<LeaseGrant, 'holder' | 'generation'>, now: number): boolean {
  return leaseActive(doc, now) && doc.lease!.holder === grant.holder && doc.lease!.generation === grant.generation;
}

export interface ClaimPassInput {
  pool: string;
  holder: string;
  now: number;
  ttlMs: number;
  /** The request's publication (epoch ms); null or absent: never covered. */
  publishedAt?: number | null;
  /** A request that finds a pass running marks the pool dirty (default true). */
  markDirty?: boolean;
  /** The old acquireLease: the same holder may take its own lease again. */
  sameHolderMayReacquire?: boolean;
}

/**
 * One transaction's decision for a refill request or a scheduled pass: covered (no
 * write), busy (at most one write: the dirty mark), or acquired (the lease, a new
 * generation). `next` is the document to write, null for no write.
 */
export function claimPass(doc: PoolRuntimeDoc, input: ClaimPassInput): { claim: PassClaim; next: PoolRuntimeDoc | null } {
  const { now, publishedAt } = input;
  const published = publishedAt ?? null;
  if (published !== null && doc.runtime.lastPass !== null && doc.runtime.lastPass.startedAt >= published) return { claim: { kind: 'covered' }, next: null };
  const ours = input.sameHolderMayReacquire === true && doc.lease?.holder === input.holder;
  if (leaseActive(doc, now) && !ours) {
    if (published !== null && doc.lease!.since >= published) return { claim: { kind: 'busy', dirtied: false }, next: null };
    if (input.markDirty === false) return { claim: { kind: 'busy', dirtied: false }, next: null };
    return { claim: { kind: 'busy', dirtied: true }, next: { ...doc, dirtySeq: doc.dirtySeq + 1, dirtyAt: now } };
  }
  const generation = doc.generation + 1;
  const lease: PoolLease = { holder: input.holder, generation, until: now + input.ttlMs, since: now };
  return {
    claim: { kind: 'acquired', lease: { pool: input.pool, holder: input.holder, generation, dirtySeq: doc.dirtySeq } },
    next: { ...doc, lease, generation },
  };
}

/** The renewed document, or null when the lease is no longer `grant`'s (lost: stop acting). */
export function renewLease(doc: PoolRuntimeDoc, grant: LeaseGrant, now: number, ttlMs: number): PoolRuntimeDoc | null {
  if (!holdsLease(doc, grant, now)) return null;
  return { ...doc, lease: { ...doc.lease!, until: Math.max(doc.lease!.until, now + ttlMs) } };
}

/**
 * The end of a pass. Marked dirty since the pass started: keep the lease (renewed, the
 * pass runs again, `rerun`). Otherwise release it. A lease that is no longer ours is
 * left alone (`lost`).
 */
export function endPass(
  doc: PoolRuntimeDoc,
  grant: LeaseGrant,
  now: number,
  ttlMs: number,
  mayRerun: boolean,
): { outcome: 'released' | 'rerun' | 'lost'; dirtySeq: number; next: PoolRuntimeDoc | null } {
  if (doc.lease?.holder !== grant.holder || doc.lease.generation !== grant.generation) {
    return { outcome: 'lost', dirtySeq: doc.dirtySeq, next: null };
  }
  if (mayRerun && doc.dirtySeq !== grant.dirtySeq) {
    return { outcome: 'rerun', dirtySeq: doc.dirtySeq, next: { ...doc, lease: { ...doc.lease!, until: now + ttlMs, since: now } } };
  }
  return { outcome: 'released', dirtySeq: doc.dirtySeq, next: { ...doc, lease: null } };
}
