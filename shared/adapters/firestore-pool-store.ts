/**
 * pools/{pool}   { spec, createdAt, updatedAt }: pool specs in Firestore. A spec is
 * validated on the way in and on the way out.
 */
import type { DocumentSnapshot, Firestore } from '@google-cloud/firestore';
import { WarmerError } from '../errors.js';
import { parsePoolSpec, type Pool, type PoolSpec } from '../domain/pool-spec.js';
import type { PoolStore } from '../ports.js';
import type { FirestoreStoreOptions } from './firestore-client.js';

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
