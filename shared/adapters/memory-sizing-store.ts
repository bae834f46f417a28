/** Demand sizing's state in memory (tests, the simulator's neighbours): the Firestore store's behaviour. */
import type { InstanceStore } from '../ports.js';
import type { ClaimSample, PoolSizingState, SizingStore, StoredDecision } from '../sizing-store.js';
import type { MemoryPoolRuntimeStore } from './memory-store.js';

export class MemorySizingStore implements SizingStore {
  readonly #docs = new Map<string, string>();
  readonly #runtime: Pick<MemoryPoolRuntimeStore, 'holds'>;
  readonly #instances: Pick<InstanceStore, 'claimsSince'>;
  /** Saves refused (fence not held) and done, for tests. */
  saves = 0;

  /** `runtime` checks the fence of a save; `instances` holds the claim receipts served claims are read from. */
  constructor(runtime: Pick<MemoryPoolRuntimeStore, 'holds'>, instances: Pick<InstanceStore, 'claimsSince'>) {
    this.#runtime = runtime;
    this.#instances = instances;
  }

  async load(pool: string): Promise<PoolSizingState | null> {
    const text = this.#docs.get(pool);
    return text === undefined ? null : (JSON.parse(text) as PoolSizingState);
  }

  async save(pool: string, state: PoolSizingState, fence: Parameters<SizingStore['save']>[2]): Promise<boolean> {
    if (fence.pool !== pool || !this.#runtime.holds(fence)) return false;
    this.#docs.set(pool, JSON.stringify(state));
    this.saves++;
    return true;
  }

  async decision(pool: string): Promise<StoredDecision | null> {
    return (await this.load(pool))?.decision ?? null;
  }

  async servedBetween(pool: string, from: number, to: number): Promise<ClaimSample[]> {
    return (await this.#instances.claimsSince(from)).filter((c) => c.pool === pool && c.at < to).map((c) => ({ at: c.at, count: c.count, warm: c.count }));
  }
}
