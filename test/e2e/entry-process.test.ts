/**
 * The deployed entry point in a real functions-framework process, against the embedded
 * emulators: its routes, services and SDKs load on first use (and in the background once
 * imported) and its port opens once the claim path is built and its first calls made
 * (the warm-up: nothing written); claims then work end to end, refill requests reach
 * Pub/Sub, and no machine goes to two claimers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PubSub } from '@google-cloud/pubsub';
import type { Firestore } from '@google-cloud/firestore';
import { createFirestore } from '../../shared/adapters/firestore-client.js';
import { FirestoreInstanceStore } from '../../shared/adapters/firestore-instance-store.js';
import { FirestorePoolStore } from '../../shared/adapters/firestore-pool-store.js';
import { ensureTopology } from '../../shared/adapters/pubsub-topology.js';
import { WARM_UP_ID } from '../../shared/adapters/client-warm-up.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../local/firestore/emulator.js';
import { startPubSubEmulator, type PubSubEmulator } from '../../local/pubsub/emulator.js';
import { record, spec } from '../support/builders.js';

const TOKEN = 'entry-process-token-0123456789';
let firestore: FirestoreEmulator;
let pubsubEmulator: PubSubEmulator;
let pubsub: PubSub;
let db: Firestore;
let child: ChildProcess;
let url: string;
const published: string[] = [];
/** Firestore methods served, and those served before the function's port first accepted. */
const firestoreCalls: string[] = [];
let callsBeforeListen: string[] = [];
/** What the process wrote on stdout (its log), and what it had written when its port first accepted. */
let stdout = '';
let stdoutBeforeListen = '';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

beforeAll(async () => {
  firestore = await startFirestoreEmulator({ onCall: (method) => void firestoreCalls.push(method) });
  pubsubEmulator = await startPubSubEmulator({ onCall: (method) => void (method === 'Publish' && published.push(method)) });
  pubsub = new PubSub({ projectId: 'entry-test', apiEndpoint: pubsubEmulator.hostPort, emulatorMode: true });
  await ensureTopology(pubsub, { teardownTopic: 'warmer-teardown', refillTopic: 'warmer-refill', deadLetterTopic: 'warmer-dead-letter' });
  db = createFirestore({ projectId: 'entry-test', emulatorHost: firestore.hostPort });
  await new FirestorePoolStore(db).putPool('entry', spec({ targetReady: 0, maxSize: 50 }), Date.now());
  const instances = new FirestoreInstanceStore(db);
  const t = Date.now() - 60_000;
  await Promise.all(Array.from({ length: 12 }, (_, i) => instances.create(record({ pool: 'entry', state: 'ready', at: t + i, name: `entry-${i}` }))));
  const port = await freePort();
  child = spawn(
    process.execPath,
    ['--import', 'tsx', 'node_modules/@google-cloud/functions-framework/build/src/main.js', '--target=claim', '--source=functions/index.ts', `--port=${port}`],
    {
      env: {
        ...process.env,
        WARMER_PROJECT: 'entry-test',
        WARMER_CLAIM_TOKENS: TOKEN,
        FIRESTORE_EMULATOR_HOST: firestore.hostPort,
        PUBSUB_EMULATOR_HOST: pubsubEmulator.hostPort,
        METADATA_SERVER_DETECTION: 'none',
        NODE_ENV: 'production',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  child.stdout!.on('data', (d) => (stdout += String(d)));
  url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  firestoreCalls.length = 0;
  for (;;) {
    const seen = [...firestoreCalls];
    const ok = await fetch(`${url}/openapi.json`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) {
      callsBeforeListen = seen;
      stdoutBeforeListen = stdout;
      break;
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('the function process did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
}, 60_000);

afterAll(async () => {
  child?.kill();
  await pubsub?.close();
  await db?.terminate();
  await pubsubEmulator?.stop();
  await firestore?.stop();
});

const claim = () =>
  fetch(`${url}/claim`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ pool: 'entry' }),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as { instances?: Array<{ name: string }>; error?: { code: string } } }));

describe('the deployed entry point in its own process', () => {
  it("warms the claim path's calls before its port accepts, and writes nothing doing so", async () => {
    expect(new Set(callsBeforeListen)).toEqual(new Set(['RunQuery', 'BatchGetDocuments', 'Commit']));
    expect((await db.collection('instances').doc(WARM_UP_ID).get()).exists).toBe(false);
    const counts = await new FirestoreInstanceStore(db).countByState('entry');
    expect(counts.ready).toBe(12);
  });

  it('logs nothing while it warms up (its own requests included)', () => {
    expect(stdoutBeforeListen).toBe('');
  });

  it('serves concurrent claims once listening, each machine once, then answers empty; refills are published', async () => {
    const outcomes = await Promise.all(Array.from({ length: 16 }, () => claim()));
    const served = outcomes.filter((o) => o.status === 200).flatMap((o) => o.body.instances!.map((i) => i.name));
    expect(served).toHaveLength(12);
    expect(new Set(served).size).toBe(12);
    expect(outcomes.filter((o) => o.status === 503).map((o) => o.body.error?.code)).toEqual(['pool_empty', 'pool_empty', 'pool_empty', 'pool_empty']);
    const deadline = Date.now() + 10_000;
    while (published.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(published.length).toBeGreaterThan(0);
    const counts = await new FirestoreInstanceStore(db).countByState('entry');
    expect(counts.claimed).toBe(12);
    expect(counts.ready).toBe(0);
  }, 60_000);
});
