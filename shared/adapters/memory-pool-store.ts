/** Pools in memory, for fast unit tests of the services and for simulations (same contract as FirestorePoolStore). */
import { WarmerError } from '../errors.js';
import { parsePoolSpec, type Pool, type PoolSpec } from '../domain/pool-spec.js';
import type { PoolStore } from '../ports.js';

const clone = <T>(v: T): T => structuredClone(v);

export class MemoryPoolStore implements PoolStore {
  readonly pools = new Map<string, Pool>();

  async getPool(name: string): Promise<Pool | null> {
    const p = this.pools.get(name);
    return p ? clone(p) : null;
  }

  async listPools(): Promise<Pool[]> {
    return [...this.pools.values()].map(clone).sort((a, b) => a.name.localeCompare(b.name));
  }

  async putPool(name: string, spec: PoolSpec, now: number): Promise<{ created: boolean; pool: Pool }> {
    const parsed = parsePoolSpec(spec);
    if (!parsed.ok) throw new WarmerError('bad_request', 'invalid pool spec', { details: parsed.problems });
    const existing = this.pools.get(name);
    const pool: Pool = { name, spec: parsed.spec, createdAt: existing?.createdAt ?? now, updatedAt: now };
    this.pools.set(name, pool);
    return { created: !existing, pool: clone(pool) };
  }
}
