/**
 * Pools and instances in Firestore.
 *
 *   pools/{pool}          { spec, createdAt, updatedAt }
 *   instances/{name}      InstanceRecord + readyAt (top level, for ordering) + expireAt (TTL)
 *   claims/{sha256(pool, requestId)}   { pool, requestId, instances[], createdAt, expireAt }
 *
 * Every state change is a compare-and-set inside a transaction. The claim reads its
 * candidates outside the transaction (oldest ready first, then a random pick among the
 * few oldest so concurrent claimers spread out), re-reads exactly the picked documents
 * inside it and flips them; a candidate that moved makes it try fresh candidates.
 *
 * What this code relies on from Firestore (pinned by test/firestore/conformance): isolated
 * read-write transactions that abort and retry on conflict, create() failing on an
 * existing document, equality/`in`/range filters on top-level fields, orderBy excluding
 * documents that lack the field, count(). It never filters on nested field paths, never
 * uses cursors, offsets, collection groups or FieldValue transforms, and writes whole
 * maps instead of dotted update paths.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Timestamp, type DocumentReference, type DocumentSnapshot, type Firestore, type Transaction } from '@google-cloud/firestore';
import { WarmerError } from '../errors.js';
import { claimedRecord, transitionedRecord, INSTANCE_STATES, isInstanceState, type InstanceRecord, type InstanceState } from '../domain/instance.js';
import { parsePoolSpec, type Pool, type PoolSpec } from '../domain/pool-spec.js';
import type { InstanceStore, PoolRuntimeStore, PoolStore } from '../ports.js';
import { emptyRuntime, type PoolRuntime } from '../domain/pool-runtime.js';
import type { ClaimOutcome, ClaimRequest, ServedClaim } from '../domain/claim.js';

/** Deleted records and claim receipts are kept this long for audit (Firestore TTL on `expireAt`). */
export const AUDIT_RETENTION_MS = 30 * 24 * 3600 * 1000;
/** How many of the oldest ready machines a claimer picks among. */
const SPREAD_WINDOW = 16;
const MAX_SPREAD_WINDOW = 128;
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

export interface FirestoreStoreOptions {
  /** Collection name prefix, so tests can share one emulator. */
  prefix?: string;
}

type Stored = Omit<InstanceRecord, never> & { readyAt: number | null; expireAt?: Timestamp | null };

function toStored(record: InstanceRecord): Stored {
  return {
    ...record,
    readyAt: record.state === 'ready' ? (record.stateChangedAt.ready ?? record.updatedAt) : null,
    expireAt: record.state === 'deleted' ? Timestamp.fromMillis(record.updatedAt + AUDIT_RETENTION_MS) : null,
  };
}

function fromSnapshot(snap: DocumentSnapshot): InstanceRecord {
  const d = snap.data() as Record<string, unknown> | undefined;
  if (!d || !isInstanceState(d.state)) {
    throw new WarmerError('internal', `instance record ${snap.id} is malformed`);
  }
  const { readyAt: _readyAt, expireAt: _expireAt, ...rest } = d;
  return rest as unknown as InstanceRecord;
}

export function claimReceiptId(pool: string, requestId: string): string {
  return createHash('sha256').update(`${pool}\u0000${requestId}`).digest('hex');
}

export class FirestorePoolStore implements PoolStore {
  readonly #db: Firestore;
  readonly #collection: string;

  constructor(db: Firestore, options: FirestoreStoreOptions = {}) {
    this.#db = db;
    this.#collection = `${options.prefix ?? ''}pools`;
  }

  #toPool(snap: DocumentSnapshot): Pool {
    const d = snap.data() as { spec: unknown; createdAt: number; updatedAt: number };
    const parsed = parsePoolSpec(d.spec);
    if (!parsed.ok) {
      throw new WarmerError('internal', `stored pool ${snap.id} is invalid: ${parsed.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
    }
    return { name: snap.id, spec: parsed.spec, createdAt: d.createdAt, updatedAt: d.updatedAt };
  }

  async getPool(name: string): Promise<Pool | null> {
    const snap = await this.#db.collection(this.#collection).doc(name).get();
    return snap.exists ? this.#toPool(snap) : null;
  }

  async listPools(): Promise<Pool[]> {
    const snaps = await this.#db.collection(this.#collection).get();
    return snaps.docs.map((s) => this.#toPool(s)).sort((a, b) => a.name.localeCompare(b.name));
  }

  async putPool(name: string, spec: PoolSpec, now: number): Promise<{ created: boolean; pool: Pool }> {
    const parsed = parsePoolSpec(spec);
    if (!parsed.ok) throw new WarmerError('bad_request', 'invalid pool spec', { details: parsed.problems });
    const ref = this.#db.collection(this.#collection).doc(name);
    return this.#db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const createdAt = snap.exists ? (snap.data() as { createdAt: number }).createdAt : now;
      tx.set(ref, { spec: parsed.spec, createdAt, updatedAt: now });
      return { created: !snap.exists, pool: { name, spec: parsed.spec, createdAt, updatedAt: now } };
    });
  }
}

export class FirestoreInstanceStore implements InstanceStore {
  readonly #db: Firestore;
  readonly #instances: string;
  readonly #claims: string;
  readonly #candidates = new Map<string, { names: string[]; until: number }>();
  readonly #inflight = new Map<string, Set<string>>();
  readonly #reading = new Map<string, Promise<string[]>>();
  readonly #taken = new Map<string, Map<string, number>>();
  /** Per pool: resolved (and replaced) whenever one of this process's claim transactions ends. */
  readonly #settled = new Map<string, { promise: Promise<void>; resolve: () => void }>();

  constructor(db: Firestore, options: FirestoreStoreOptions = {}) {
    this.#db = db;
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

  async create(record: InstanceRecord): Promise<void> {
    try {
      await this.#ref(record.name).create(toStored(record));
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
    const ref = this.#ref(name);
    return this.#db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      if (!snap.exists) return null;
      const current = fromSnapshot(snap);
      if (!from.includes(current.state)) return null;
      const next = transitionedRecord(current, to, now, patch);
      tx.set(ref, toStored(next));
      return next;
    });
  }

  async update(
    name: string,
    states: readonly InstanceState[],
    patch: Partial<Omit<InstanceRecord, 'name' | 'pool' | 'state'>>,
  ): Promise<InstanceRecord | null> {
    const ref = this.#ref(name);
    return this.#db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      if (!snap.exists) return null;
      const current = fromSnapshot(snap);
      if (!states.includes(current.state)) return null;
      const next: InstanceRecord = { ...current, ...patch };
      tx.set(ref, toStored(next));
      return next;
    });
  }

  async #replay(tx: Transaction | null, receiptSnap: DocumentSnapshot): Promise<InstanceRecord[]> {
    const names = (receiptSnap.data() as { instances: string[] }).instances;
    const refs = names.map((n) => this.#ref(n));
    const snaps = refs.length === 0 ? [] : tx ? await tx.getAll(...refs) : await this.#db.getAll(...refs);
    return snaps.filter((s) => s.exists).map(fromSnapshot);
  }

  async claim(req: ClaimRequest): Promise<ClaimOutcome> {
    // The receipt of an earlier claim with this request id is read inside the
    // transaction, together with the candidates: one round trip.
    const receiptRef = this.#db.collection(this.#claims).doc(claimReceiptId(req.pool, req.requestId));
    // Names seen taken (or contended) by this claim.
    const skip = new Set<string>();
    // Names other claims of this process are trying right now: never picked twice, so
    // concurrent claims in one instance never collide; other instances are kept apart by
    // the transaction.
    let inflight = this.#inflight.get(req.pool);
    if (!inflight) this.#inflight.set(req.pool, (inflight = new Set()));
    let window = SPREAD_WINDOW;
    let waitUntil: number | null = null;
    const budgetEnd = req.maxWaitMs === undefined ? Infinity : Date.now() + req.maxWaitMs;
    for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
      const taken = this.#recentlyTaken(req.pool);
      const usable = (names: string[]) => names.filter((n) => !skip.has(n) && !inflight.has(n) && !taken.has(n));
      let fresh = usable(this.#cachedCandidates(req.pool));
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
          waitUntil ??= Math.min(Date.now() + INFLIGHT_WAIT_MS, budgetEnd);
          if (Date.now() < waitUntil) {
            await this.#nextSettle(req.pool, waitUntil - Date.now());
            attempt--;
            continue;
          }
        }
        if (fresh.length < req.count) {
          // Someone may have claimed with this request id meanwhile (a concurrent retry).
          const again = await receiptRef.get();
          if (again.exists) return { kind: 'claimed', instances: await this.#replay(null, again), replayed: true };
          return { kind: 'empty', available: fresh.length };
        }
      }
      const picked = pickAmongOldest(fresh, req.count, window);
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
        window = Math.min(window * 2, MAX_SPREAD_WINDOW);
        continue;
      } finally {
        for (const n of picked) inflight.delete(n);
        this.#signalSettle(req.pool);
      }
      if (result.kind === 'claimed') {
        this.#forget(req.pool, picked);
        return { kind: 'claimed', instances: result.instances, replayed: false };
      }
      if (result.kind === 'replay') return { kind: 'claimed', instances: result.instances, replayed: true };
      for (const n of result.names) skip.add(n);
      this.#forget(req.pool, result.names);
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
    const snaps = await this.#db
      .collection(this.#instances)
      .where('pool', '==', pool)
      .where('state', '==', 'ready')
      .orderBy('readyAt')
      .limit(limit)
      .get();
    const names = snaps.docs.map((d) => d.id);
    this.#candidates.set(pool, { names, until: Date.now() + CANDIDATE_CACHE_MS });
    return names;
  }

  async claimsSince(since: number): Promise<ServedClaim[]> {
    const snaps = await this.#db.collection(this.#claims).where('createdAt', '>=', since).select('pool', 'createdAt', 'instances').get();
    return snaps.docs.map((d) => {
      const r = d.data() as { pool: string; createdAt: number; instances: string[] };
      return { pool: r.pool, at: r.createdAt, count: r.instances.length };
    });
  }

  #cachedCandidates(pool: string): string[] {
    const entry = this.#candidates.get(pool);
    return entry && entry.until > Date.now() ? entry.names : [];
  }

  /**
   * Names this process saw taken: dropped from the cached candidates, and remembered for
   * as long as a candidate read may still return them (a read that started before the
   * claim committed), so they are not tried again.
   */
  #forget(pool: string, names: string[]) {
    const entry = this.#candidates.get(pool);
    if (entry) entry.names = entry.names.filter((n) => !names.includes(n));
    let taken = this.#taken.get(pool);
    if (!taken) this.#taken.set(pool, (taken = new Map()));
    const until = Date.now() + CANDIDATE_CACHE_MS * 2;
    for (const n of names) taken.set(n, until);
  }

  #recentlyTaken(pool: string): Map<string, number> {
    const taken = this.#taken.get(pool) ?? new Map<string, number>();
    const now = Date.now();
    for (const [n, until] of taken) if (until <= now) taken.delete(n);
    return taken;
  }

  #claimTransaction(req: ClaimRequest, receiptRef: DocumentReference, picked: string[]) {
    return this.#db.runTransaction(
      async (tx) => {
        const [receipt, ...docs] = await tx.getAll(receiptRef, ...picked.map((n) => this.#ref(n)));
        if (receipt!.exists) return { kind: 'replay' as const, instances: await this.#replay(tx, receipt!) };
        const stale = docs.filter((d) => !d.exists || fromSnapshot(d).state !== 'ready' || fromSnapshot(d).pool !== req.pool);
        if (stale.length > 0) return { kind: 'stale' as const, names: stale.map((d) => d.id) };
        const claimed = docs.map((d) => {
          const next = claimedRecord(fromSnapshot(d), req);
          tx.set(d.ref, toStored(next));
          return next;
        });
        tx.create(receiptRef, {
          pool: req.pool,
          requestId: req.requestId,
          instances: claimed.map((c) => c.name),
          createdAt: req.now,
          expireAt: Timestamp.fromMillis(req.now + AUDIT_RETENTION_MS),
        });
        return { kind: 'claimed' as const, instances: claimed };
      },
      { maxAttempts: 1 },
    );
  }
}

/** Picks `count` names at random among the oldest `count + window` (approximately oldest first). */
export function pickAmongOldest(candidates: string[], count: number, window: number, random: () => number = Math.random): string[] {
  const pool = candidates.slice(0, count + window);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count);
}

/**
 * poolRuntime/{pool}: reconcile's lease and memory (cold zones, breaker, last pass).
 * A few writes per pass, never one per claim.
 */
export class FirestorePoolRuntimeStore implements PoolRuntimeStore {
  readonly #db: Firestore;
  readonly #collection: string;

  constructor(db: Firestore, options: FirestoreStoreOptions = {}) {
    this.#db = db;
    this.#collection = `${options.prefix ?? ''}poolRuntime`;
  }

  #ref(pool: string) {
    return this.#db.collection(this.#collection).doc(pool);
  }

  async acquireLease(pool: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    const ref = this.#ref(pool);
    return this.#db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const d = snap.data() as { lease?: { holder: string; until: number } | null; runtime?: PoolRuntime } | undefined;
      if (d?.lease && d.lease.holder !== holder && d.lease.until > now) return false;
      tx.set(ref, { lease: { holder, until: now + ttlMs }, runtime: d?.runtime ?? emptyRuntime() });
      return true;
    });
  }

  async releaseLease(pool: string, holder: string): Promise<void> {
    const ref = this.#ref(pool);
    await this.#db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const d = snap.data() as { lease?: { holder: string; until: number } | null; runtime?: PoolRuntime } | undefined;
      if (!d || d.lease?.holder !== holder) return;
      tx.set(ref, { lease: null, runtime: d.runtime ?? emptyRuntime() });
    });
  }

  async getRuntime(pool: string): Promise<PoolRuntime> {
    const snap = await this.#ref(pool).get();
    const d = snap.data() as { runtime?: PoolRuntime } | undefined;
    return d?.runtime ?? emptyRuntime();
  }

  async saveRuntime(pool: string, runtime: PoolRuntime): Promise<void> {
    const ref = this.#ref(pool);
    await this.#db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const d = snap.data() as { lease?: unknown } | undefined;
      tx.set(ref, { lease: d?.lease ?? null, runtime });
    });
  }
}
