/** What the store has done since it started (or since `resetStats()`): for benchmarks and tests of a client's cost. */
export interface StoreStats {
  /** Queries run (RunQuery and aggregations). */
  queries: number;
  /** Documents a query looked at (its scan), and documents queries returned. */
  queryDocsScanned: number;
  queryDocsReturned: number;
  /** Documents read by name (GetDocument, BatchGetDocuments). */
  docsRead: number;
  /** Read-write and read-only transactions begun. */
  transactions: number;
  /** Commits (with or without a transaction; each write of a BatchWrite is one), those of a transaction, and those refused as contention (ABORTED). */
  commits: number;
  transactionCommits: number;
  aborts: number;
  rollbacks: number;
}

export const zeroStats = (): StoreStats => ({
  queries: 0,
  queryDocsScanned: 0,
  queryDocsReturned: 0,
  docsRead: 0,
  transactions: 0,
  commits: 0,
  transactionCommits: 0,
  aborts: 0,
  rollbacks: 0,
});
