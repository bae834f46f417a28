/**
 * In-memory history, for unit tests of the services and the dashboard. Passes the same
 * contract suite as the Firestore history (test/adapters/history/contract.ts).
 */
import type { HistoryEvent, HistoryStore } from '../history.js';

export class MemoryHistoryStore implements HistoryStore {
  readonly events: HistoryEvent[] = [];
  /** Makes the next `record` calls fail (for best-effort tests). */
  failRecords = false;

  async record(e: HistoryEvent): Promise<void> {
    if (this.failRecords) throw new Error('history store unavailable');
    this.events.push(structuredClone(e));
  }

  async since(pool: string | null, since: number): Promise<HistoryEvent[]> {
    return this.events
      .filter((e) => (pool === null || e.pool === pool) && e.at >= since)
      .map((e) => structuredClone(e))
      .sort((a, b) => a.at - b.at);
  }
}
