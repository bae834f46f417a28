/**
 * The embedded emulator itself: lifecycle, and its optimistic transactions checked
 * deterministically at the store level (the conformance suite checks the outcomes that
 * any Firestore must give, through the real client).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../../local/firestore/emulator.js';
import { FirestoreError } from '../../../local/firestore/errors.js';
import type { Query } from '../../../local/firestore/query.js';
import { DocumentStore } from '../../../local/firestore/store.js';
import type { FsValue } from '../../../local/firestore/values.js';
import type { ParsedWrite } from '../../../local/firestore/writes.js';
import { createFirestore } from '../../../shared/adapters/firestore-client.js';

const ROOT = 'projects/p/databases/(default)/documents';
const str = (value: string): FsValue => ({ kind: 'string', value });
const set = (id: string, state: string): ParsedWrite => ({
  kind: 'update',
  name: `${ROOT}/instances/${id}`,
  fields: new Map([['state', str(state)]]),
  mask: null,
  transforms: [],
  precondition: null,
});
const BEGIN = { kind: 'new', readOnly: false, retryOf: null } as const;
const readyQuery: Query = {
  parent: ROOT,
  collectionId: 'instances',
  allDescendants: false,
  where: { type: 'field', path: ['state'], pathKey: 'state', op: 'EQUAL', value: str('ready') },
  orderBy: [{ path: ['__name__'], pathKey: '__name__', descending: false }],
  startAt: null,
  endAt: null,
  offset: 0,
  limit: 1,
  select: null,
};

function codeOf(run: () => unknown): number | 'ok' {
  try {
    run();
    return 'ok';
  } catch (err) {
    return err instanceof FirestoreError ? err.code : -1;
  }
}

describe('DocumentStore transactions (optimistic concurrency)', () => {
  it('aborts (10) a commit whose read document changed since, and writes nothing', () => {
    const store = new DocumentStore();
    store.commit([set('a', 'ready')], null);
    const { newTransaction: tx } = store.getDocuments([`${ROOT}/instances/a`], BEGIN);
    store.commit([set('a', 'claimed')], null);
    expect(codeOf(() => store.commit([set('a', 'mine'), set('b', 'mine')], tx))).toBe(10);
    expect(store.get(`${ROOT}/instances/a`)?.fields.get('state')).toEqual(str('claimed'));
    expect(store.get(`${ROOT}/instances/b`)).toBeNull();
  });

  it('aborts when a document read as missing was created since', () => {
    const store = new DocumentStore();
    const { newTransaction: tx } = store.getDocuments([`${ROOT}/instances/a`], BEGIN);
    store.commit([set('a', 'ready')], null);
    expect(codeOf(() => store.commit([set('a', 'mine')], tx))).toBe(10);
  });

  it('aborts when a query it ran would now return something else (phantom)', () => {
    const store = new DocumentStore();
    store.commit([set('m', 'ready')], null);
    const { newTransaction: tx, result } = store.runQuery(readyQuery, BEGIN);
    expect(result.map((d) => d.name)).toEqual([`${ROOT}/instances/m`]);
    store.commit([set('a', 'ready')], null); // sorts before m
    expect(codeOf(() => store.commit([set('m', 'claimed')], tx))).toBe(10);
  });

  it('commits when what it read is unchanged, even if other documents changed', () => {
    const store = new DocumentStore();
    store.commit([set('a', 'ready'), set('b', 'ready')], null);
    const { newTransaction: tx } = store.getDocuments([`${ROOT}/instances/a`], BEGIN);
    store.commit([set('b', 'claimed')], null);
    expect(codeOf(() => store.commit([set('a', 'claimed')], tx))).toBe('ok');
  });

  it('answers INVALID_ARGUMENT "transaction has expired" for unknown, committed or rolled-back ids', () => {
    const store = new DocumentStore();
    const unknown = new Uint8Array([1, 2, 3]);
    expect(codeOf(() => store.commit([], unknown))).toBe(3);
    const tx = store.beginTransaction(false, null);
    store.commit([], tx);
    expect(codeOf(() => store.commit([], tx))).toBe(3);
    const rolledBack = store.beginTransaction(false, null);
    store.rollback(rolledBack);
    expect(() => store.commit([set('a', 'x')], rolledBack)).toThrow(/transaction has expired/);
    expect(store.get(`${ROOT}/instances/a`)).toBeNull();
  });
});

describe('startFirestoreEmulator', () => {
  const started: FirestoreEmulator[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((e) => e.stop()));
  });

  it('binds 127.0.0.1 on an ephemeral port by default; several can run at once', async () => {
    const a = await startFirestoreEmulator();
    const b = await startFirestoreEmulator();
    started.push(a, b);
    expect(a.host).toBe('127.0.0.1');
    expect(a.port).toBeGreaterThan(0);
    expect(a.port).not.toBe(b.port);
    expect(a.hostPort).toBe(`127.0.0.1:${a.port}`);
  });

  it('reset() wipes all data', async () => {
    const emulator = await startFirestoreEmulator();
    started.push(emulator);
    const db = createFirestore({ projectId: 'warmer-test', emulatorHost: emulator.hostPort });
    try {
      await db.doc('pools/a').set({ v: 1 });
      await db.doc('instances/x/sub/y').set({ v: 2 });
      expect((await db.doc('pools/a').get()).exists).toBe(true);
      await emulator.reset();
      expect((await db.doc('pools/a').get()).exists).toBe(false);
      expect((await db.collection('instances').doc('x').collection('sub').get()).size).toBe(0);
    } finally {
      await db.terminate();
    }
  });

  it('lists collections and documents (listCollections / listDocuments)', async () => {
    const emulator = await startFirestoreEmulator();
    started.push(emulator);
    const db = createFirestore({ projectId: 'warmer-test', emulatorHost: emulator.hostPort });
    try {
      await db.doc('pools/a').set({ v: 1 });
      await db.doc('instances/x/sub/y').set({ v: 2 });
      expect((await db.listCollections()).map((c) => c.id)).toEqual(['instances', 'pools']);
      expect((await db.collection('instances').listDocuments()).map((d) => d.id)).toEqual(['x']);
    } finally {
      await db.terminate();
    }
  });
});
