/**
 * The in-memory stores (pools, instances, the pool runtime), one per file, and the pair
 * linked so fenced record writes are checked as atomically as in Firestore.
 */
import { MemoryInstanceStore, type MemoryInstanceStoreOptions } from './memory-instance-store.js';
import { MemoryPoolRuntimeStore } from './memory-runtime-store.js';

export { MemoryPoolStore } from './memory-pool-store.js';
export { MemoryInstanceStore, type MemoryInstanceStoreOptions } from './memory-instance-store.js';
export { MemoryPoolRuntimeStore } from './memory-runtime-store.js';

/** An instance store and a runtime store linked so fenced record writes are checked (what reconcile needs). */
export function linkedMemoryStores(options: Omit<MemoryInstanceStoreOptions, 'fence'> = {}): {
  instances: MemoryInstanceStore;
  runtime: MemoryPoolRuntimeStore;
} {
  const runtime = new MemoryPoolRuntimeStore();
  return { runtime, instances: new MemoryInstanceStore({ ...options, fence: (f) => runtime.holds(f) }) };
}
