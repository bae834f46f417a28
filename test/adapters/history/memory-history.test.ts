import { MemoryHistoryStore } from '../../../shared/adapters/memory-history.js';
import { historyContract } from './contract.js';

historyContract('MemoryHistoryStore', () => new MemoryHistoryStore());
