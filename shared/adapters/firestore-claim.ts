/**
 * The claim of the Firestore instance store: moves `count` ready machines of a pool to
 * claimed, in one transaction with the claim's receipt (claims/{receipt}).
 *
 * It reads candidate names (ids only: a field mask with no fields) outside the
 * transaction, oldest ready first, shared by the concurrent claims of the process and
 * reused for a short while; picks among them (shared/domain/candidates.ts: at random
 * among the K oldest, K growing with the races this process loses to other instances);
 * re-reads exactly the picked documents inside the transaction and flips them
 * (firestore-claim-transaction.ts), replacing there, from a fresh read, any it finds
 * taken. A candidate found taken is forgotten by every claim of the process; a claim that
 * finds no free candidate reads afresh (and retries what it skipped) before it answers empty, so
 * it never answers empty while a ready machine it could take exists.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CollectionReference, Firestore } from '@google-cloud/firestore';
import { WarmerError } from '../errors.js';
import { CandidateMemory, ContentionWindow, pickAmongOldest, type Random } from '../domain/candidates.js';
import type { ClaimOutcome, ClaimRequest } from '../domain/claim.js';
import type { Clock } from '../ports.js';
import { claimTransaction, PoolChanged, replayReceipt, StaleCandidates } from './firestore-claim-transaction.js';
import { claimReceiptId } from './firestore-instance-record.js';

const MAX_CLAIM_ATTEMPTS = 24;
/**
 * How old a candidate read may be for the first attempt of a claim that finds none
 * fresher (after an idle gap) to pick from it while a fresh read is under way, when this
 * process has lost no race on the pool lately. Its picks are read again in the
 * transaction and replaced there from the fresh read if taken, so a wrong list costs the
 * round trip that waiting for the read would have cost, and a right one saves it.
 */
export const STALE_CANDIDATES_MS = 600_000;
/** How long a claimer reuses this process's last candidate query of a pool (shorter under contention). */
export const CANDIDATE_CACHE_MS = 1000;
/**
 * The longest a claim that found no free candidate waits for this process's other claims
 * of the pool to settle (each settle wakes it at once). Only a safety cap: those claims'
 * transactions always end, and a claim that gave up on a machine another claim then
 * failed to take would answer 503 while a ready machine sits unclaimed. Measured from
 * when the wait starts, not from the claim's start, so a slow, busy process does not turn
 * a long queue into false 503s.
 */
const INFLIGHT_WAIT_MS = 20_000;
/** gRPC ABORTED: another transaction committed first on a document this one read. */
const ABORTED = 10;

export class FirestoreClaimer {
  readonly #memory = new CandidateMemory(CANDIDATE_CACHE_MS);
  readonly #contention = new ContentionWindow();
  readonly #inflight = new Map<string, Set<string>>();
  readonly #reading = new Map<string, Promise<string[]>>();
  /** Candidate reads deferred until a claim has answered (see claim). */
  readonly #background = new Set<Promise<void>>();
  /** Per pool: resolved (and replaced) whenever one of this process's claim transactions ends. */
  readonly #settled = new Map<string, { promise: Promise<void>; resolve: () => void }>();

  constructor(
    private readonly db: Firestore,
    private readonly instances: CollectionReference,
    private readonly claims: CollectionReference,
    private readonly pools: CollectionReference,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {}

  #inflightOf(pool: string): Set<string> {
    let inflight = this.#inflight.get(pool);
    if (!inflight) this.#inflight.set(pool, (inflight = new Set()));
    return inflight;
  }

  /**
   * Starts reading the pool's candidates unless a fresh read is cached or under way, so
   * that a claim's pool lookup and its candidate read overlap (one round trip, not two).
   */
  prefetch(pool: string): void {
    const now = this.clock.now();
    if (this.#reading.has(pool) || this.#memory.cached(pool, now, this.#contention.cacheAgeMs(pool, now, CANDIDATE_CACHE_MS)).length > 0) return;
    // A claim will start from the stale list (see claim) and read afresh once it is served.
    if (this.#usesStale(pool, now)) return;
    void this.#sharedRead(pool, 1 + this.#contention.current(pool, now) + 2 * this.#inflightOf(pool).size).catch(() => undefined);
  }

  /** Resolves once no candidate read of this process is pending (before the client is closed). */
  async drain(): Promise<void> {
    while (this.#background.size > 0 || this.#reading.size > 0) await Promise.allSettled([...this.#background, ...this.#reading.values()]);
  }

  /** Whether a claim finding no fresh candidates starts from the stale list: only while this process loses no races on the pool. */
  #usesStale(pool: string, now: number): boolean {
    return this.#contention.current(pool, now) === this.#contention.base && this.#memory.stale(pool, now, STALE_CANDIDATES_MS).length > 0;
  }

  /** How many candidates a claim that skips `skipped` reads: enough for its window past everything it must leave. */
  #readLimit(req: ClaimRequest, skipped: number): number {
    const now = this.clock.now();
    const inflight = this.#inflightOf(req.pool).size;
    return req.count + this.#contention.current(req.pool, now) + skipped + 2 * inflight + this.#memory.recentlyTaken(req.pool, now).size;
  }

  /** A read of the pool's candidates that concurrent claims share. */
  #sharedRead(pool: string, limit: number): Promise<string[]> {
    const read = this.#readCandidates(pool, limit);
    this.#reading.set(pool, read);
    const done = () => {
      if (this.#reading.get(pool) === read) this.#reading.delete(pool);
    };
    read.then(done, done);
    return read;
  }

  async claim(req: ClaimRequest): Promise<ClaimOutcome> {
    // The receipt of an earlier claim with this request id is read inside the
    // transaction, together with the candidates: one round trip.
    // Keyed by principal and request id: ids are scoped per principal, and a replay
    // naming another pool is found (and refused as a mismatch), not claimed afresh.
    const receiptRef = this.claims.doc(claimReceiptId(req.principal, req.requestId));
    // Names seen taken (or contended) by this claim.
    const skip = new Set<string>();
    // Names other claims of this process are trying right now: never picked twice, so
    // concurrent claims in one instance never collide; other instances are kept apart by
    // the transaction.
    const inflight = this.#inflightOf(req.pool);
    let waitUntil: number | null = null;
    let retriedSkipped = false;
    const budgetEnd = req.maxWaitMs === undefined ? Infinity : this.clock.now() + req.maxWaitMs;
    for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
      const now = this.clock.now();
      const window = this.#contention.current(req.pool, now);
      const taken = this.#memory.recentlyTaken(req.pool, now);
      const usable = (names: string[]) => names.filter((n) => !skip.has(n) && !inflight.has(n) && !taken.has(n));
      let fresh = usable(this.#memory.cached(req.pool, now, this.#contention.cacheAgeMs(req.pool, now, CANDIDATE_CACHE_MS)));
      let fromStale = false;
      if (fresh.length < req.count && attempt === 0 && this.#usesStale(req.pool, now)) {
        const old = usable(this.#memory.stale(req.pool, now, STALE_CANDIDATES_MS));
        if (old.length >= req.count) {
          fresh = old;
          fromStale = true;
        }
      }
      if (fresh.length < req.count) {
        // (Re)read the oldest ready machines. Concurrent claims share one read: a claim
        // that finds a read of the pool in flight waits for it before reading again.
        const pending = this.#reading.get(req.pool);
        if (pending) fresh = usable(await pending.catch(() => []));
      }
      if (fresh.length < req.count) {
        fresh = usable(await this.#sharedRead(req.pool, this.#readLimit(req, skip.size)));
        if (fresh.length < req.count && [...inflight].some((n) => !skip.has(n))) {
          // Not enough free candidates, but other claims of this process are trying some:
          // a machine they fail to take is still ready. Wait for them before saying empty.
          const at = this.clock.now();
          waitUntil ??= Math.min(at + INFLIGHT_WAIT_MS, budgetEnd);
          if (at < waitUntil) {
            await this.#nextSettle(req.pool, waitUntil - at);
            attempt--;
            continue;
          }
        }
        if (fresh.length < req.count && skip.size > 0 && !retriedSkipped) {
          // A lost race may have been on the receipt (a concurrent retry of this request),
          // not on the machines: give what this claim skipped one more try before empty.
          retriedSkipped = true;
          skip.clear();
          continue;
        }
        if (fresh.length < req.count) {
          // Someone may have claimed with this request id meanwhile (a concurrent retry).
          const again = await receiptRef.get();
          if (again.exists && !req.replacing) return replayReceipt(this.db, this.instances, null, again, req);
          return { kind: 'empty', available: fresh.length };
        }
      }
      const picked = pickAmongOldest(fresh, req.count, window, this.random);
      // Every name this attempt holds (its picks and their replacements), in flight until it ends.
      const held = [...picked];
      for (const n of held) inflight.add(n);
      // Picks found taken inside the transaction: proven stale for every claim of the
      // process, and so is the candidate list they came from. They are replaced there from
      // a fresh read (shared with the process's other claims, outside the transaction: a
      // query inside it would lock every machine it returns).
      const replace = async (names: string[]): Promise<string[]> => {
        for (const n of names) skip.add(n);
        this.#memory.forget(req.pool, names, this.clock.now());
        this.#contention.lost(req.pool, this.clock.now());
        const list = await (this.#reading.get(req.pool) ?? this.#sharedRead(req.pool, this.#readLimit(req, skip.size)));
        const at = this.clock.now();
        const gone = this.#memory.recentlyTaken(req.pool, at);
        const more = pickAmongOldest(
          list.filter((n) => !skip.has(n) && !inflight.has(n) && !gone.has(n)),
          names.length,
          this.#contention.current(req.pool, at),
          this.random,
        );
        if (more.length < names.length) return [];
        for (const n of more) {
          inflight.add(n);
          held.push(n);
        }
        return more;
      };
      let result;
      try {
        result = await claimTransaction({ db: this.db, instances: this.instances, req, receiptRef, poolRef: this.pools.doc(req.pool), picked, replace });
      } catch (err) {
        if (err instanceof PoolChanged) return { kind: 'pool_changed' };
        // Rolled back: what it found taken is already forgotten (replace); read afresh.
        if (err instanceof StaleCandidates) continue;
        // Another claimer committed first on one of our candidates (ABORTED). Rather than
        // let the client back off and retry the same documents, spread wider and move on.
        if ((err as { code?: number }).code !== ABORTED) throw err;
        // Skipped by this claim only: the conflict may have been on the receipt (a
        // concurrent retry of the same request), and then these machines are still ready.
        for (const n of held) skip.add(n);
        this.#contention.lost(req.pool, this.clock.now());
        continue;
      } finally {
        for (const n of held) inflight.delete(n);
        this.#signalSettle(req.pool);
      }
      if (fromStale) {
        // The list was stale: read it afresh for the claims after this one, once this
        // one's answer is on its way (its replacements, if any, read on demand).
        const refresh = new Promise<void>((resolve) =>
          setImmediate(() => {
            if (this.#reading.has(req.pool)) return resolve();
            this.#sharedRead(req.pool, this.#readLimit(req, 0)).then(
              () => resolve(),
              () => resolve(),
            );
          }),
        );
        this.#background.add(refresh);
        void refresh.then(() => this.#background.delete(refresh));
      }
      if (result.kind === 'claimed') {
        this.#memory.forget(req.pool, held, this.clock.now());
        return { kind: 'claimed', instances: result.instances, replayed: false };
      }
      return result.outcome;
    }
    throw new WarmerError('contention', 'too much contention on the pool; retry');
  }

  /** Resolves when the next claim transaction of this process on the pool ends, or after `maxMs`. */
  async #nextSettle(pool: string, maxMs: number): Promise<void> {
    let settle = this.#settled.get(pool);
    if (!settle) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#settled.set(pool, (settle = { promise, resolve }));
    }
    const timeout = new AbortController();
    try {
      await Promise.race([settle.promise, sleep(maxMs, undefined, { signal: timeout.signal }).catch(() => undefined)]);
    } finally {
      timeout.abort();
    }
  }

  #signalSettle(pool: string) {
    const settle = this.#settled.get(pool);
    if (!settle) return;
    this.#settled.delete(pool);
    settle.resolve();
  }

  async #readCandidates(pool: string, limit: number): Promise<string[]> {
    // Names only (an empty field mask): the transaction reads the documents it picks.
    const snaps = await this.instances.where('pool', '==', pool).where('state', '==', 'ready').orderBy('readyAt').select().limit(limit).get();
    const names = snaps.docs.map((d) => d.id);
    this.#memory.remember(pool, names, this.clock.now());
    return names;
  }
}
