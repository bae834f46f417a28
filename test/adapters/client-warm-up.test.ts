/**
 * The warm-up of a new instance's clients (shared/adapters/client-warm-up.ts) against the
 * local emulators: it makes the claim's calls in the claim's shapes, writes nothing
 * (whether or not its made-up record exists), publishes nothing, and leaves the clients
 * working.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PubSub } from '@google-cloud/pubsub';
import type { Firestore } from '@google-cloud/firestore';
import { createFirestore } from '../../shared/adapters/firestore-client.js';
import { FirestoreInstanceStore } from '../../shared/adapters/firestore-instance-store.js';
import { warmFirestore, warmFirestoreCodecs, warmPublishCodecs, warmPubSub, WARM_UP_ID } from '../../shared/adapters/client-warm-up.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../local/firestore/emulator.js';
import { startPubSubEmulator, type PubSubEmulator } from '../../local/pubsub/emulator.js';
import { record } from '../support/builders.js';

const PROJECT = 'warm-up-test';
const calls: Array<{ method: string; request: Record<string, any> }> = [];
const published: string[] = [];
let firestore: FirestoreEmulator;
let pubsubEmulator: PubSubEmulator;
let db: Firestore;

beforeAll(async () => {
  firestore = await startFirestoreEmulator({ onCall: (method, request) => void calls.push({ method, request: request as Record<string, any> }) });
  pubsubEmulator = await startPubSubEmulator({ onCall: (method) => void published.push(method) });
  db = createFirestore({ projectId: PROJECT, emulatorHost: firestore.hostPort });
});

afterAll(async () => {
  await db?.terminate();
  await pubsubEmulator?.stop();
  await firestore?.stop();
});

/** Every document of the collection, by id, with its update time. */
async function snapshot(collection: string) {
  const snaps = await db.collection(collection).get();
  return Object.fromEntries(snaps.docs.map((d) => [d.id, { data: d.data(), updateTime: d.updateTime.toMillis() }]));
}

describe('warmFirestore', () => {
  it("makes the claim's calls (candidate query, transactional read, a commit) and writes nothing", async () => {
    const store = new FirestoreInstanceStore(db, { prefix: 'a_' });
    await store.create(record({ pool: 'p', state: 'ready', at: 1_000, name: 'p-1' }));
    const before = await snapshot('a_instances');
    calls.length = 0;
    await warmFirestore(db, 'a_instances');
    const made = [...calls];
    expect(await snapshot('a_instances')).toEqual(before);
    const methods = made.map((c) => c.method).sort();
    expect(methods).toEqual(['BatchGetDocuments', 'Commit', 'RunQuery', 'RunQuery']);
    // One round of calls, no transaction begun and none rolled back.
    expect(methods).not.toContain('BeginTransaction');
    const get = made.find((c) => c.method === 'BatchGetDocuments')!.request;
    expect(get.has_new_transaction).toBe(true);
    const commit = made.find((c) => c.method === 'Commit')!.request;
    expect(commit.writes).toHaveLength(1);
    expect(commit.writes[0].has_current_document && commit.writes[0].current_document.has_update_time).toBe(true);
    // The candidate query's shape: two equalities, ordered by readyAt, an empty field mask.
    const query = made.filter((c) => c.method === 'RunQuery').map((c) => JSON.stringify(c.request));
    expect(query.some((q) => q.includes(WARM_UP_ID) && q.includes('readyAt'))).toBe(true);
  });

  it('writes nothing even when a document of its made-up id exists', async () => {
    await db.collection('b_instances').doc(WARM_UP_ID).set({ state: 'ready', pool: 'x' });
    const before = await snapshot('b_instances');
    await warmFirestore(db, 'b_instances');
    expect(await snapshot('b_instances')).toEqual(before);
  });

  it('works on an empty collection, and the client serves the claim path after it', async () => {
    await warmFirestore(db, 'c_instances');
    expect(await snapshot('c_instances')).toEqual({});
    const store = new FirestoreInstanceStore(db, { prefix: 'c_' });
    await store.create(record({ pool: 'q', state: 'ready', at: 1_000, name: 'q-1' }));
    const out = await store.claim({ pool: 'q', principal: 't', requestId: 'r1', assignee: null, labels: {}, count: 1, lifetimeSeconds: null, now: 2_000 });
    expect(out.kind === 'claimed' && out.instances.map((i) => i.name)).toEqual(['q-1']);
  });
});

describe('warmFirestoreCodecs', () => {
  it("finds the client's gRPC methods, makes no call, and the client serves claims after it", async () => {
    await warmFirestore(db, 'd_instances');
    calls.length = 0;
    // 0 would mean the SDK's internals moved and the warm-up silently does nothing.
    expect(await warmFirestoreCodecs(db, 'd_instances')).toBe(4);
    expect(calls).toEqual([]);
    expect(await snapshot('d_instances')).toEqual({});
    const store = new FirestoreInstanceStore(db, { prefix: 'd_' });
    await store.create(record({ pool: 'q', state: 'ready', at: 1_000, name: 'q-1' }));
    const out = await store.claim({ pool: 'q', principal: 't', requestId: 'r1', assignee: null, labels: {}, count: 1, lifetimeSeconds: null, now: 2_000 });
    expect(out.kind === 'claimed' && out.instances.map((i) => i.name)).toEqual(['q-1']);
  });

  it('does nothing on a client that has made no call yet', async () => {
    const fresh = createFirestore({ projectId: PROJECT, emulatorHost: firestore.hostPort });
    try {
      expect(await warmFirestoreCodecs(fresh, 'e_instances')).toBe(0);
    } finally {
      await fresh.terminate();
    }
  });
});

describe('warmPubSub', () => {
  it("encodes a publish on the publisher's own stub (found, as warmPubSub does), sending nothing", async () => {
    const pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: pubsubEmulator.hostPort, emulatorMode: true });
    try {
      const client = (await pubsub.getClientAsync_({ client: 'PublisherClient' })) as unknown as { initialize(): Promise<object> };
      published.length = 0;
      expect(warmPublishCodecs((await client.initialize()) as Parameters<typeof warmPublishCodecs>[0], 'projects/p/topics/t')).toBe(1);
      expect(published).toEqual([]);
    } finally {
      await pubsub.close();
    }
  });

  it('builds and connects the publisher without publishing; a publish works after it', async () => {
    const pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: pubsubEmulator.hostPort, emulatorMode: true });
    try {
      await pubsub.createTopic('warm-topic');
      published.length = 0;
      await warmPubSub(pubsub);
      expect(published).toEqual([]);
      const id = await pubsub.topic('warm-topic').publishMessage({ data: Buffer.from('{}') });
      expect(id).toBeTruthy();
      expect(published).toEqual(['Publish']);
    } finally {
      await pubsub.close();
    }
  });

  it('rejects when the publisher cannot connect in time (the caller logs it)', async () => {
    // A port nothing listens on: the channel never becomes ready.
    const pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: '127.0.0.1:1', emulatorMode: true });
    try {
      await expect(warmPubSub(pubsub)).rejects.toThrow();
    } finally {
      await pubsub.close();
    }
  }, 15_000);
});
