/**
 * Instances in Firestore (instances/{name}, claims/{receipt}; see firestore-instance-record.ts).
 *
 * Every state change is a compare-and-set inside a transaction. The claim is in
 * firestore-claim.ts: it reads candidate names outside a transaction, re-reads exactly
 * the picked documents inside it and flips them.
 *
 * What this code relies on from Firestore (pinned by test/adapters/firestore/conformance): isolated
 * read-write transactions that abort and retry on conflict, create() failing on an
 * existing document, equality/`in`/range filters on top-level fields, orderBy excluding
 * documents that lack the field, count(). It never filters on nested field paths, never
 * uses cursors, offsets, collection groups or FieldValue transforms, and writes whole
 * maps instead of dotted update paths.
 */
import type { Firestore } from '@google-cloud/firestore';
import { WarmerError } from '../errors.js';
import type { Random } from '../domain/candidates.js';
import type { ClaimOutcome, ClaimRequest, ServedClaim } from '../domain/claim.js';
import { transitionedRecord, INSTANCE_STATES, type InstanceRecord, type InstanceState } from '../domain/instance.js';
import type { Clock, Fence, InstanceStore } from '../ports.js';
import { fenceHolds, runtimeDocRef } from './firestore-runtime-store.js';
import type { FirestoreStoreOptions } from './firestore-client.js';
import { fromSnapshot, toStored } from './firestore-instance-record.js';
import { FirestoreClaimer } from './firestore-claim.js';
import { systemClock } from './system-clock.js';

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
  readonly #claimer: FirestoreClaimer;

  readonly #prefix: string | undefined;

  constructor(db: Firestore, options: FirestoreInstanceStoreOptions = {}) {
    this.#db = db;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#prefix = options.prefix;
    this.#instances = `${options.prefix ?? ''}instances`;
    this.#claims = `${options.prefix ?? ''}claims`;
    this.#claimer = new FirestoreClaimer(
      db,
      db.collection(this.#instances),
      db.collection(this.#claims),
      // The pool store's collection (firestore-pool-store.ts), under the same prefix.
      db.collection(`${options.prefix ?? ''}pools`),
      this.#clock,
      this.#random,
    );
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

  async claim(req: ClaimRequest): Promise<ClaimOutcome> {
    return this.#claimer.claim(req);
  }

  prefetchCandidates(pool: string): void {
    this.#claimer.prefetch(pool);
  }

  /** Resolves once no candidate read of the claim path is pending: call it before closing the client. */
  drain(): Promise<void> {
    return this.#claimer.drain();
  }

  async claimsSince(since: number): Promise<ServedClaim[]> {
    const snaps = await this.#db.collection(this.#claims).where('createdAt', '>=', since).select('pool', 'createdAt', 'instances').get();
    return snaps.docs.map((d) => {
      const r = d.data() as { pool: string; createdAt: number; instances: string[] };
      return { pool: r.pool, at: r.createdAt, count: r.instances.length };
    });
  }
}
