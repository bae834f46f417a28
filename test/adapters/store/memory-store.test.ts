import { MemoryInstanceStore, MemoryPoolRuntimeStore, MemoryPoolStore } from '../../../shared/adapters/memory-store.js';
import { storeContract } from './contract.js';

storeContract('MemoryStore', () => ({ instances: new MemoryInstanceStore(), pools: new MemoryPoolStore(), runtime: new MemoryPoolRuntimeStore() }));
