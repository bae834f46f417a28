/**
 * Instance records and claims in memory, for fast unit tests of the services and for
 * simulations. It passes the same contract suite as the Firestore store
 * (test/adapters/store/contract.ts): every method is atomic because it never awaits mid-way.
 */
import { WarmerError } from '../errors.js';
import { claimedRecord, transitionedRecord, INSTANCE_STATES, type InstanceRecord, type InstanceState } from '../domain/instance.js';
import { pickAmongOldest, type Random } from '../domain/candidates.js';
import type { Fence, InstanceStore } from '../ports.js';
import { fingerprintOf, sameClaim, type ClaimFingerprint, type ClaimOutcome, type ClaimRequest, type ServedClaim } from '../domain/claim.js';

const clone = <T>(v: T): T => structuredClone(v);

export interface MemoryInstanceStoreOptions {
  /** How many of the oldest ready machines beyond `count` a claim picks among. Default 0: exactly the oldest. */
  spreadWindow?: number;
  random?: Random;
  /** Checks a fenced create's lease (MemoryPoolRuntimeStore.holds). Without it, a fenced create is refused. */
  fence?: (fence: Fence) => boolean;
}

export class MemoryInstanceStore implements InstanceStore {
  readonly records = new Map<string, InstanceRecord>();
  /** Keyed by principal and request id (request ids are scoped per principal). */
  readonly #receipts = new Map<string, { pool: string; at: number; names: string[]; request: ClaimFingerprint }>();
  readonly #window: number;
  readonly #random: Random;
  readonly #fence: ((fence: Fence) => boolean) | null;

  constructor(options: MemoryInstanceStoreOptions = {}) {
    this.#window = options.spreadWindow ?? 0;
    this.#random = options.random ?? Math.random;
    this.#fence = options.fence ?? null;
  }

  async get(name: string): Promise<InstanceRecord | null> {
    const r = this.records.get(name);
    return r ? clone(r) : null;
  }

  async create(record: InstanceRecord, fence?: Fence): Promise<void> {
    if (fence && fence.pool !== record.pool) throw new WarmerError('bad_request', `fence of pool ${fence.pool} for a record of pool ${record.pool}`);
    if (fence && !(this.#fence?.(fence) ?? false)) {
      throw new WarmerError(
        'precondition_failed',
        `pool ${fence.pool}: lease generation ${fence.generation} no longer held; record ${record.name} not written`,
      );
    }
    if (this.records.has(record.name)) throw new WarmerError('conflict', `instance ${record.name} already has a record`);
    this.records.set(record.name, clone(record));
  }

  async listByPool(pool: string, states?: readonly InstanceState[]): Promise<InstanceRecord[]> {
    return [...this.records.values()].filter((r) => r.pool === pool && (!states || states.length === 0 || states.includes(r.state))).map(clone);
  }

  async countByState(pool: string): Promise<Record<InstanceState, number>> {
    const counts = Object.fromEntries(INSTANCE_STATES.map((s) => [s, 0])) as Record<InstanceState, number>;
    for (const r of this.records.values()) if (r.pool === pool) counts[r.state]++;
    return counts;
  }

  async transition(
    name: string,
    from: readonly InstanceState[],
    to: InstanceState,
    now: number,
    patch: Partial<Omit<InstanceRecord, 'name' | 'pool' | 'state'>> = {},
  ): Promise<InstanceRecord | null> {
    const current = this.records.get(name);
    if (!current || !from.includes(current.state)) return null;
    const next = transitionedRecord(current, to, now, clone(patch));
    this.records.set(name, next);
    return clone(next);
  }

  async update(
    name: string,
    states: readonly InstanceState[],
    patch: Partial<Omit<InstanceRecord, 'name' | 'pool' | 'state'>>,
  ): Promise<InstanceRecord | null> {
    const current = this.records.get(name);
    if (!current || !states.includes(current.state)) return null;
    const next = { ...current, ...clone(patch) };
    this.records.set(name, next);
    return clone(next);
  }

  async claim(req: ClaimRequest): Promise<ClaimOutcome> {
    // It holds no pools, so it cannot check a claim's spec against the stored one.
    if (req.poolVersion !== undefined) throw new Error('the in-memory instance store cannot verify a poolVersion');
    const key = `${req.principal}\u0000${req.requestId}`;
    const receipt = this.#receipts.get(key);
    if (req.replacing) return this.#topUp(req, receipt, key);
    if (receipt) {
      if (!sameClaim(receipt.request, req)) return { kind: 'mismatch', original: structuredClone(receipt.request) };
      return { kind: 'claimed', replayed: true, instances: receipt.names.flatMap((n) => (this.records.has(n) ? [clone(this.records.get(n)!)] : [])) };
    }
    const ready = [...this.records.values()]
      .filter((r) => r.pool === req.pool && r.state === 'ready')
      .sort((a, b) => (a.stateChangedAt.ready ?? 0) - (b.stateChangedAt.ready ?? 0));
    if (ready.length < req.count) return { kind: 'empty', available: ready.length };
    const picked = pickAmongOldest(
      ready.map((r) => r.name),
      req.count,
      this.#window,
      this.#random,
    );
    const claimed = picked.map((name) => {
      const current = this.records.get(name)!;
      const next = claimedRecord(current, req);
      this.records.set(next.name, next);
      return clone(next);
    });
    this.#receipts.set(key, { pool: req.pool, at: req.now, names: claimed.map((c) => c.name), request: fingerprintOf(req) });
    return { kind: 'claimed', instances: claimed, replayed: false };
  }

  /** Replaces `req.replacing` in an existing receipt with `req.count` other ready machines, atomically. */
  #topUp(req: ClaimRequest, receipt: { names: string[] } | undefined, key: string): ClaimOutcome {
    const replacing = req.replacing ?? [];
    if (!receipt || !replacing.every((n) => receipt.names.includes(n))) {
      return { kind: 'claimed', replayed: true, instances: (receipt?.names ?? []).flatMap((n) => (this.records.has(n) ? [clone(this.records.get(n)!)] : [])) };
    }
    const ready = [...this.records.values()]
      .filter((r) => r.pool === req.pool && r.state === 'ready')
      .sort((a, b) => (a.stateChangedAt.ready ?? 0) - (b.stateChangedAt.ready ?? 0));
    if (ready.length < req.count) return { kind: 'empty', available: ready.length };
    const picked = pickAmongOldest(
      ready.map((r) => r.name),
      req.count,
      this.#window,
      this.#random,
    );
    const claimed = picked.map((name) => {
      const next = claimedRecord(this.records.get(name)!, req);
      this.records.set(next.name, next);
      return clone(next);
    });
    const stored = this.#receipts.get(key)!;
    stored.names = [...stored.names.filter((n) => !replacing.includes(n)), ...claimed.map((c) => c.name)];
    return { kind: 'claimed', instances: claimed, replayed: false };
  }

  async claimsSince(since: number): Promise<ServedClaim[]> {
    return [...this.#receipts.values()].filter((r) => r.at >= since).map((r) => ({ pool: r.pool, at: r.at, count: r.names.length }));
  }
}
