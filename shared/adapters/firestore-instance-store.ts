/**
 * Instances in Firestore (instances/{name}, claims/{receipt}; see firestore-instance-record.ts).
 *
 * Every state change is a compare-and-set inside a transaction. The claim reads its
 * candidates outside the transaction (oldest ready first; which of them it tries is
 * decided by shared/domain/candidates.ts), re-reads exactly the picked documents inside
 * it and flips them; a candidate that moved makes it try fresh candidates.
 *
 * What this code relies on from Firestore (pinned by test/adapters/firestore/conformance): isolated
 * read-write transactions that abort and retry on conflict, create() failing on an
 * existing document, equality/`in`/range filters on top-level fields, orderBy excluding
 * documents that lack the field, count(). It never filters on nested field paths, never
 * uses cursors, offsets, collection groups or FieldValue transforms, and writes whole
 * maps instead of dotted update paths.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Timestamp, type DocumentReference, type DocumentSnapshot, type Firestore, type Transaction } from '@google-cloud/firestore';
import { WarmerError } from '../errors.js';
import { CandidateMemory, pickAmongOldest, SPREAD_WINDOW, widenedWindow, type Random } from '../domain/candidates.js';
import { fingerprintOf, sameClaim, type ClaimFingerprint, type ClaimOutcome, type ClaimRequest, type ServedClaim } from '../domain/claim.js';
import { claimedRecord, transitionedRecord, INSTANCE_STATES, type InstanceRecord, type InstanceState } from '../domain/instance.js';
import type { Clock, Fence, InstanceStore } from '../ports.js';
import { fenceHolds, runtimeDocRef } from './firestore-runtime-store.js';
import type { FirestoreStoreOptions } from './firestore-client.js';
import { AUDIT_RETENTION_MS, claimReceiptId, fromSnapshot, toStored } from './firestore-instance-record.js';
import { systemClock } from './system-clock.js';

const MAX_CLAIM_ATTEMPTS = 24;
/** How long a claimer reuses this process's last candidate query of a pool. */
const CANDIDATE_CACHE_MS = 1000;
/**
 * The longest a claim that found no free candidate waits for this process's other claims
 * of the pool to settle (each settle wakes it at once). Only a safety cap: those claims'
 * transactions always end, and a claim that gave up on a machine another claim then
 * failed to take would answer 503 while a ready machine sits unclaimed. Measured from
 * when the wait starts, not from the claim's start, so a slow, busy process does not turn
 * a long queue into false 503s.
 */
const INFLIGHT_WAIT_MS = 20_000;

/** claims/{claimReceiptId(principal, requestId)}: what was asked, by whom, and what was handed out. */
interface StoredReceipt {
  pool: string;
  /** Absent on receipts written before claims had owners (and fingerprints). */
  principal?: string;
  requestId: string;
  count?: number;
  assignee?: string | null;
  labels?: Record<string, string>;
  sshKeys?: string[];
  instances: string[];
  createdAt: number;
  expireAt: Timestamp;
}

export interface FirestoreInstanceStoreOptions extends FirestoreStoreOptions {
  /** Times the candidate cache and the claim's wait budget. Default: the system clock. */
  clock?: Clock;
  /** Spreads concurrent claimers over the oldest ready machines. Default: Math.random. */
  random?: Random;
}

export class FirestoreInstanceStore implements InstanceStore {
  readonly #db: Firestore;
  readonly #instances: string;
  readonly #claims: string;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #memory = new CandidateMemory(CANDIDATE_CACHE_MS);
  readonly #inflight = new Map<string, Set<string>>();
  readonly #reading = new Map<string, Promise<string[]>>();
  /** Per pool: resolved (and replaced) whenever one of this process's claim transactions ends. */
  readonly #settled = new Map<string, { promise: Promise<void>; resolve: () => void }>();

  readonly #prefix: string | undefined;

  constructor(db: Firestore, options: FirestoreInstanceStoreOptions = {}) {
    this.#db = db;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#prefix = options.prefix;
    this.#instances = `${options.prefix ?? ''}instances`;
    this.#claims = `${options.prefix ?? ''}claims`;
  }

  #ref(name: string) {
    return this.#db.collection(this.#instances).doc(name);
  }

  async get(name: string): Promise<InstanceRecord | null> {
    const snap = await this.#ref(name).get();
    return snap.exists ? fromSnapshot(snap) : null;
  }

  async create(record: InstanceRecord, fence?: Fence): Promise<void> {
    try {
      if (!fence) {
        await this.#ref(record.name).create(toStored(record));
        return;
      }
      // The fence is checked in the record's own transaction: a pass whose lease was
      // lost can never add a record (and so a machine) next to the pass that took it over.
      if (fence.pool !== record.pool) throw new WarmerError('bad_request', `fence of pool ${fence.pool} for a record of pool ${record.pool}`);
      const held = await this.#db.runTransaction(async (tx) => {
        if (!(await fenceHolds(tx, runtimeDocRef(this.#db, this.#prefix, fence.pool), fence))) return false;
        tx.create(this.#ref(record.name), toStored(record));
        return true;
      });
      if (!held)
        throw new WarmerError(
          'precondition_failed',
          `pool ${fence.pool}: lease generation ${fence.generation} no longer held; record ${record.name} not written`,
        );
    } catch (err) {
      if ((err as { code?: number }).code === 6) {
        throw new WarmerError('conflict', `instance ${record.name} already has a record`);
      }
      throw err;
    }
  }

  async listByPool(pool: string, states?: readonly InstanceState[]): Promise<InstanceRecord[]> {
    let q = this.#db.collection(this.#instances).where('pool', '==', pool);
    if (states && states.length > 0) {
      // `in` takes at most 30 values; there are 8 states.
      q = q.where('state', 'in', [...states]);
    }
    const snaps = await q.get();
    return snaps.docs.map(fromSnapshot);
  }

  async countByState(pool: string): Promise<Record<InstanceState, number>> {
    const entries = await Promise.all(
      INSTANCE_STATES.map(async (state) => {
        const agg = await this.#db.collection(this.#instances).where('pool', '==', pool).where('state', '==', state).count().get();
        return [state, agg.data().count] as const;
      }),
    );
    return Object.fromEntries(entries) as Record<InstanceState, number>;
  }

  async transition(
    name: string,
    from: readonly InstanceState[],
    to: InstanceState,
    now: number,
    patch: Partial<Omit<InstanceRecord, 'name' | 'pool' | 'state'>> = {},
  ): Promise<InstanceRecord | null> {
    return this.#compareAndSet(name, from, (current) => transitionedRecord(current, to, now, patch));
  }

  async update(
    name: string,
    states: readonly InstanceState[],
    patch: Partial<Omit<InstanceRecord, 'name' | 'pool' | 'state'>>,
  ): Promise<InstanceRecord | null> {
    return this.#compareAndSet(name, states, (current) => ({ ...current, ...patch }));
  }

  /** In one transaction: the record, if it is in one of `states`, replaced by `next(record)`. */
  #compareAndSet(name: string, states: readonly InstanceState[], next: (current: InstanceRecord) => InstanceRecord): Promise<InstanceRecord | null> {
    const ref = this.#ref(name);
    return this.#db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      if (!snap.exists) return null;
      const current = fromSnapshot(snap);
      if (!states.includes(current.state)) return null;
      const updated = next(current);
      tx.set(ref, toStored(updated));
      return updated;
    });
  }

  /** The answer to a request id seen before: its machines, or `mismatch` when the request differs. */
  async #replay(tx: Transaction | null, receiptSnap: DocumentSnapshot, req: ClaimRequest): Promise<ClaimOutcome> {
    const receipt = receiptSnap.data() as StoredReceipt;
    const original: ClaimFingerprint = {
      pool: receipt.pool,
      count: receipt.count ?? receipt.instances.length,
      assignee: receipt.assignee ?? null,
      labels: receipt.labels ?? {},
      ...(receipt.sshKeys?.length ? { sshKeys: receipt.sshKeys } : {}),
    };
    if (!sameClaim(original, req)) return { kind: 'mismatch', original };
    return this.#replayNames(tx, receipt.instances);
  }

  async #replayNames(tx: Transaction | null, names: string[]): Promise<ClaimOutcome> {
    const refs = names.map((n) => this.#ref(n));
    const snaps = refs.length === 0 ? [] : tx ? await tx.getAll(...refs) : await this.#db.getAll(...refs);
    return { kind: 'claimed', instances: snaps.filter((s) => s.exists).map(fromSnapshot), replayed: true };
  }

  async claim(req: ClaimRequest): Promise<ClaimOutcome> {
    // The receipt of an earlier claim with this request id is read inside the
    // transaction, together with the candidates: one round trip.
    // Keyed by principal and request id: ids are scoped per principal, and a replay
    // naming another pool is found (and refused as a mismatch), not claimed afresh.
    const receiptRef = this.#db.collection(this.#claims).doc(claimReceiptId(req.principal, req.requestId));
    // Names seen taken (or contended) by this claim.
    const skip = new Set<string>();
    // Names other claims of this process are trying right now: never picked twice, so
    // concurrent claims in one instance never collide; other instances are kept apart by
    // the transaction.
    let inflight = this.#inflight.get(req.pool);
    if (!inflight) this.#inflight.set(req.pool, (inflight = new Set()));
    let window = SPREAD_WINDOW;
    let waitUntil: number | null = null;
    const budgetEnd = req.maxWaitMs === undefined ? Infinity : this.#clock.now() + req.maxWaitMs;
    for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
      const taken = this.#memory.recentlyTaken(req.pool, this.#clock.now());
      const usable = (names: string[]) => names.filter((n) => !skip.has(n) && !inflight.has(n) && !taken.has(n));
      let fresh = usable(this.#memory.cached(req.pool, this.#clock.now()));
      if (fresh.length < req.count) {
        // (Re)read the oldest ready machines. Concurrent claims share one read: a claim
        // that finds a read of the pool in flight waits for it before reading again.
        const pending = this.#reading.get(req.pool);
        if (pending) fresh = usable(await pending.catch(() => []));
      }
      if (fresh.length < req.count) {
        const read = this.#readCandidates(req.pool, req.count + window + skip.size + 2 * inflight.size + taken.size);
        this.#reading.set(req.pool, read);
        let names: string[];
        try {
          names = await read;
        } finally {
          if (this.#reading.get(req.pool) === read) this.#reading.delete(req.pool);
        }
        fresh = usable(names);
        if (fresh.length < req.count && [...inflight].some((n) => !skip.has(n))) {
          // Not enough free candidates, but other claims of this process are trying some:
          // a machine they fail to take is still ready. Wait for them before saying empty.
          const now = this.#clock.now();
          waitUntil ??= Math.min(now + INFLIGHT_WAIT_MS, budgetEnd);
          if (now < waitUntil) {
            await this.#nextSettle(req.pool, waitUntil - now);
            attempt--;
            continue;
          }
        }
        if (fresh.length < req.count) {
          // Someone may have claimed with this request id meanwhile (a concurrent retry).
          const again = await receiptRef.get();
          if (again.exists && !req.replacing) return this.#replay(null, again, req);
          return { kind: 'empty', available: fresh.length };
        }
      }
      const picked = pickAmongOldest(fresh, req.count, window, this.#random);
      for (const n of picked) inflight.add(n);
      let result;
      try {
        result = await this.#claimTransaction(req, receiptRef, picked);
      } catch (err) {
        // Another claimer committed first on one of our candidates (ABORTED). Rather than
        // let the client back off and retry the same documents, spread wider and move on.
        if ((err as { code?: number }).code !== 10) throw err;
        // Skipped by this claim only: the conflict may have been on the receipt (a
        // concurrent retry of the same request), and then these machines are still ready.
        for (const n of picked) skip.add(n);
        window = widenedWindow(window);
        continue;
      } finally {
        for (const n of picked) inflight.delete(n);
        this.#signalSettle(req.pool);
      }
      if (result.kind === 'claimed') {
        this.#memory.forget(req.pool, picked, this.#clock.now());
        return { kind: 'claimed', instances: result.instances, replayed: false };
      }
      if (result.kind === 'replay') return result.outcome;
      for (const n of result.names) skip.add(n);
      this.#memory.forget(req.pool, result.names, this.#clock.now());
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
    const snaps = await this.#db.collection(this.#instances).where('pool', '==', pool).where('state', '==', 'ready').orderBy('readyAt').limit(limit).get();
    const names = snaps.docs.map((d) => d.id);
    this.#memory.remember(pool, names, this.#clock.now());
    return names;
  }

  async claimsSince(since: number): Promise<ServedClaim[]> {
    const snaps = await this.#db.collection(this.#claims).where('createdAt', '>=', since).select('pool', 'createdAt', 'instances').get();
    return snaps.docs.map((d) => {
      const r = d.data() as { pool: string; createdAt: number; instances: string[] };
      return { pool: r.pool, at: r.createdAt, count: r.instances.length };
    });
  }

  #claimTransaction(req: ClaimRequest, receiptRef: DocumentReference, picked: string[]) {
    return this.#db.runTransaction(
      async (tx) => {
        const [receipt, ...docs] = await tx.getAll(receiptRef, ...picked.map((n) => this.#ref(n)));
        const replacing = req.replacing;
        const receiptNames = receipt!.exists ? (receipt!.data() as StoredReceipt).instances : [];
        if (replacing) {
          // A top-up: only of this principal's receipt, and only while it still holds the names.
          if (!receipt!.exists || !replacing.every((n) => receiptNames.includes(n))) {
            return { kind: 'replay' as const, outcome: await this.#replayNames(tx, receiptNames) };
          }
        } else if (receipt!.exists) return { kind: 'replay' as const, outcome: await this.#replay(tx, receipt!, req) };
        const stale = docs.filter((d) => !d.exists || fromSnapshot(d).state !== 'ready' || fromSnapshot(d).pool !== req.pool);
        if (stale.length > 0) return { kind: 'stale' as const, names: stale.map((d) => d.id) };
        const claimed = docs.map((d) => {
          const next = claimedRecord(fromSnapshot(d), req);
          tx.set(d.ref, toStored(next));
          return next;
        });
        if (replacing) {
          // Whole document, no update mask (see the header).
          const previous = receipt!.data() as StoredReceipt;
          tx.set(receiptRef, { ...previous, instances: [...receiptNames.filter((n) => !replacing.includes(n)), ...claimed.map((c) => c.name)] });
          return { kind: 'claimed' as const, instances: claimed };
        }
        const stored: StoredReceipt = {
          ...fingerprintOf(req),
          principal: req.principal,
          requestId: req.requestId,
          instances: claimed.map((c) => c.name),
          createdAt: req.now,
          expireAt: Timestamp.fromMillis(req.now + AUDIT_RETENTION_MS),
        };
        tx.create(receiptRef, stored);
        return { kind: 'claimed' as const, instances: claimed };
      },
      { maxAttempts: 1 },
    );
  }
}
