/** Assignments over an in-memory instance store (the same records), for tests and the simulator. */
import type { InstancePage, InstanceQuery } from '../domain/assignment.js';
import type { InstanceRecord } from '../domain/instance.js';
import type { AssignmentStore } from '../ports.js';
import type { MemoryInstanceStore } from './memory-store.js';

const clone = <T>(v: T): T => structuredClone(v);

/** Whether a record matches a listing's filters (the Firestore store's query, in memory). */
export function matchesQuery(r: InstanceRecord, q: InstanceQuery): boolean {
  if (q.pool !== undefined && r.pool !== q.pool) return false;
  if (q.states && q.states.length > 0 && !q.states.includes(r.state)) return false;
  if (q.assignee !== undefined && r.claim?.assignee !== q.assignee) return false;
  if (q.principal !== undefined && r.claim?.principal !== q.principal) return false;
  return q.after === undefined || r.name > q.after;
}

export class MemoryAssignmentStore implements AssignmentStore {
  constructor(private readonly store: MemoryInstanceStore) {}

  async list(q: InstanceQuery): Promise<InstancePage> {
    const all = [...this.store.records.values()].filter((r) => matchesQuery(r, q)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const page = all.slice(0, q.limit);
    return { records: page.map(clone), next: all.length > q.limit ? page[page.length - 1]!.name : null };
  }

  async modify(name: string, change: (current: InstanceRecord) => InstanceRecord | null) {
    const current = this.store.records.get(name);
    if (!current) return null;
    const next = change(clone(current));
    if (next) this.store.records.set(name, clone(next));
    return { before: clone(current), after: next ? clone(next) : null };
  }
}
