import { MemoryAssignmentStore } from '../../../shared/adapters/memory-assignments.js';
import { assignmentContract } from './assignment-contract.js';
import { MemoryInstanceStore, MemoryPoolRuntimeStore, MemoryPoolStore } from '../../../shared/adapters/memory-store.js';
import { storeContract } from './contract.js';

storeContract('MemoryStore', () => ({ instances: new MemoryInstanceStore(), pools: new MemoryPoolStore(), runtime: new MemoryPoolRuntimeStore() }));

assignmentContract('MemoryStore', () => {
  const instances = new MemoryInstanceStore();
  return { instances, assignments: new MemoryAssignmentStore(instances) };
});
