/**
 * The emulator's equality indexes (local/firestore/equality-index.ts): a query answers
 * exactly what a scan of the whole collection answers, through any sequence of writes,
 * deletes and imports, and it looks only at the documents holding its equality values.
 */
import { describe, expect, it } from 'vitest';
import { runQuery, type Filter, type Query } from '../../../local/firestore/query.js';
import { DocumentStore } from '../../../local/firestore/store.js';
import type { FsValue } from '../../../local/firestore/values.js';
import type { ParsedWrite } from '../../../local/firestore/writes.js';

const ROOT = 'projects/p/databases/(default)/documents';
const str = (value: string): FsValue => ({ kind: 'string', value });
const int = (value: number): FsValue => ({ kind: 'integer', value });
const NONE = { kind: 'none' } as const;

const put = (collection: string, id: string, fields: Record<string, FsValue>): ParsedWrite => ({
  kind: 'update',
  name: `${ROOT}/${collection}/${id}`,
  fields: new Map(Object.entries(fields)),
  mask: null,
  transforms: [],
  precondition: null,
});
const del = (collection: string, id: string): ParsedWrite => ({ kind: 'delete', name: `${ROOT}/${collection}/${id}`, precondition: null });
const field = (name: string, op: 'EQUAL' | 'GREATER_THAN', value: FsValue): Filter => ({ type: 'field', path: name.split('.'), pathKey: name, op, value });
const eq = (name: string, value: FsValue): Filter => field(name, 'EQUAL', value);
const query = (where: Filter | null, over: Partial<Query> = {}): Query => ({
  parent: ROOT,
  collectionId: 'instances',
  allDescendants: false,
  where,
  orderBy: [
    { path: ['readyAt'], pathKey: 'readyAt', descending: false },
    { path: ['__name__'], pathKey: '__name__', descending: false },
  ],
  startAt: null,
  endAt: null,
  offset: 0,
  limit: null,
  select: null,
  ...over,
});

/** A deterministic pseudo-random source (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const QUERIES: Array<[string, Query]> = [
  ['pool and state (the claim query)', query({ type: 'composite', op: 'AND', filters: [eq('pool', str('a')), eq('state', str('ready'))] }, { limit: 5 })],
  ['one string equality', query(eq('state', str('claimed')))],
  ['a boolean equality', query(eq('flag', { kind: 'boolean', value: true }))],
  ['a nested string equality', query(eq('meta.zone', str('z1')))],
  ['an integer equality (not indexed: 1 == 1.0)', query(eq('pool', int(1)))],
  ['an OR of equalities (not indexed)', query({ type: 'composite', op: 'OR', filters: [eq('pool', str('a')), eq('pool', str('b'))] })],
  ['an equality and a range', query({ type: 'composite', op: 'AND', filters: [eq('pool', str('b')), field('readyAt', 'GREATER_THAN', int(50))] })],
  ['an equality on a value nobody holds', query(eq('pool', str('nobody')))],
  ['no filter', query(null, { limit: 7 })],
];

describe('the emulator answers equality queries from indexes', () => {
  it.each([1, 2, 3])('answers as a full scan does through random writes and deletes (seed %i)', (seed) => {
    const random = seeded(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const store = new DocumentStore();
    const pools: FsValue[] = [str('a'), str('b'), str('c'), int(1), { kind: 'double', value: 1 }];
    for (let step = 0; step < 400; step++) {
      const id = `m${Math.floor(random() * 60)}`;
      if (random() < 0.15) {
        store.commit([del('instances', id)], null);
      } else {
        const fields: Record<string, FsValue> = { state: str(pick(['ready', 'claimed', 'booting'])), readyAt: int(Math.floor(random() * 100)) };
        if (random() < 0.9) fields.pool = pick(pools);
        if (random() < 0.5) fields.flag = { kind: 'boolean', value: random() < 0.5 };
        if (random() < 0.5) fields.meta = { kind: 'map', fields: new Map([['zone', str(pick(['z1', 'z2']))]]) };
        store.commit([put('instances', id, fields)], null);
      }
      // Another collection with the same fields: never an answer of a query of instances.
      if (random() < 0.2) store.commit([put('other', id, { pool: str('a'), state: str('ready'), readyAt: int(1) })], null);
      if (step % 25 === 0 || step === 399) {
        const all = store.exportDocuments();
        for (const [, q] of QUERIES) {
          expect(store.runQuery(q, NONE).result.map((d) => d.name)).toEqual(runQuery(q, all).map((d) => d.name));
        }
      }
    }
    // After an import the indexes describe the imported documents only.
    const snapshot = store.exportDocuments().filter((d) => d.name.includes('/instances/m1'));
    store.importDocuments(snapshot);
    for (const [, q] of QUERIES) {
      expect(store.runQuery(q, NONE).result.map((d) => d.name)).toEqual(runQuery(q, snapshot).map((d) => d.name));
    }
  });

  it('looks only at the documents holding the equality value, however large the collection', () => {
    const store = new DocumentStore();
    for (let i = 0; i < 2000; i++) store.commit([put('instances', `old${i}`, { pool: str('p'), state: str('claimed'), readyAt: int(i) })], null);
    for (let i = 0; i < 10; i++) store.commit([put('instances', `r${i}`, { pool: str('p'), state: str('ready'), readyAt: int(i) })], null);
    const claimQuery = query({ type: 'composite', op: 'AND', filters: [eq('pool', str('p')), eq('state', str('ready'))] }, { limit: 3 });
    store.runQuery(claimQuery, NONE); // builds the indexes (one scan each)
    store.resetStats();
    expect(store.runQuery(claimQuery, NONE).result.map((d) => d.name.split('/').pop())).toEqual(['r0', 'r1', 'r2']);
    expect(store.stats).toMatchObject({ queries: 1, queryDocsScanned: 10, queryDocsReturned: 3 });
    // A machine claimed leaves the ready index at once.
    store.commit([put('instances', 'r0', { pool: str('p'), state: str('claimed'), readyAt: int(0) })], null);
    store.resetStats();
    expect(store.runQuery(claimQuery, NONE).result.map((d) => d.name.split('/').pop())).toEqual(['r1', 'r2', 'r3']);
    expect(store.stats.queryDocsScanned).toBe(9);
  });

  it('looks only at the documents holding every equality value, when no single one is selective', () => {
    const store = new DocumentStore();
    // Pool p: 500 claimed, 5 ready. Pool q: 300 ready. Neither "pool = p" (505) nor
    // "state = ready" (305) alone narrows the claim query to p's ready machines.
    for (let i = 0; i < 500; i++) store.commit([put('instances', `pc${i}`, { pool: str('p'), state: str('claimed'), readyAt: int(i) })], null);
    for (let i = 0; i < 300; i++) store.commit([put('instances', `q${i}`, { pool: str('q'), state: str('ready'), readyAt: int(i) })], null);
    for (let i = 0; i < 5; i++) store.commit([put('instances', `pr${i}`, { pool: str('p'), state: str('ready'), readyAt: int(i) })], null);
    const claimQuery = query({ type: 'composite', op: 'AND', filters: [eq('pool', str('p')), eq('state', str('ready'))] }, { limit: 3 });
    store.runQuery(claimQuery, NONE); // builds the indexes (one scan each)
    store.resetStats();
    expect(store.runQuery(claimQuery, NONE).result.map((d) => d.name.split('/').pop())).toEqual(['pr0', 'pr1', 'pr2']);
    expect(store.stats).toMatchObject({ queries: 1, queryDocsScanned: 5, queryDocsReturned: 3 });
  });

  it('counts transactions, commits, aborts and rollbacks', () => {
    const store = new DocumentStore();
    store.commit([put('instances', 'a', { state: str('ready') })], null);
    const tx = store.beginTransaction(false, null);
    store.getDocuments([`${ROOT}/instances/a`], { kind: 'transaction', id: tx });
    store.commit([put('instances', 'a', { state: str('claimed') })], null);
    expect(() => store.commit([put('instances', 'a', { state: str('mine') })], tx)).toThrow(/contention/);
    store.rollback(store.beginTransaction(false, null));
    expect(store.stats).toMatchObject({ transactions: 2, commits: 3, transactionCommits: 1, aborts: 1, rollbacks: 1, docsRead: 1 });
  });
});
