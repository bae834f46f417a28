/**
 * The Firestore claim across instances: four stores, each with its own Firestore client
 * (its own channel, candidate cache and contention window, as four Cloud Run instances
 * have), share one emulator and one pool. 64 concurrent claimers spread over them never
 * get the same machine and never hear "empty" while a machine is ready. Outcomes only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Firestore } from '@google-cloud/firestore';
import { createFirestore } from '../../../shared/adapters/firestore-client.js';
import { FirestoreInstanceStore } from '../../../shared/adapters/firestore-instance-store.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../../../local/firestore/emulator.js';
import type { ClaimOutcome } from '../../../shared/domain/claim.js';
import { record } from '../../support/builders.js';

let emulator: FirestoreEmulator;
const clients: Firestore[] = [];
const prefix = 'multi_';
let stores: FirestoreInstanceStore[];

beforeAll(async () => {
  emulator = await startFirestoreEmulator();
  for (let i = 0; i < 4; i++) clients.push(createFirestore({ projectId: 'warmer-multi', emulatorHost: emulator.hostPort }));
  stores = clients.map((db) => new FirestoreInstanceStore(db, { prefix }));
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.terminate()));
  await emulator.stop();
});

const CLAIMERS = 64;

/** `total` claims by CLAIMERS concurrent claimers, claim i on store i mod 4. */
async function claimAll(pool: string, total: number, tag: string): Promise<ClaimOutcome[]> {
  const out: ClaimOutcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CLAIMERS, total) }, async () => {
      while (next < total) {
        const i = next++;
        out.push(
          await stores[i % stores.length]!.claim({
            pool,
            principal: 'alice',
            requestId: `${tag}-${i}`,
            count: 1,
            now: Date.now(),
            assignee: null,
            labels: {},
            lifetimeSeconds: null,
          }),
        );
      }
    }),
  );
  return out;
}

const names = (outcomes: ClaimOutcome[]) => outcomes.flatMap((o) => (o.kind === 'claimed' ? o.instances.map((i) => i.name) : []));

describe('claims from four instances on one pool', () => {
  it('64 claimers over 4 instances: every claim served while machines are ready, none twice, then exactly the rest', async () => {
    const pool = 'multi';
    const t = Date.now() - 600_000;
    await Promise.all(Array.from({ length: 200 }, (_, i) => stores[0]!.create(record({ pool, state: 'ready', at: t + i, name: `multi-${i}` }))));

    // 150 claims on 200 ready machines: never fewer than 50 ready, so no claim may be empty.
    const first = await claimAll(pool, 150, 'a');
    expect(first.filter((o) => o.kind !== 'claimed')).toEqual([]);
    const got = names(first);
    expect(got).toHaveLength(150);
    expect(new Set(got).size).toBe(150);

    // 64 more claims for the last 50: exactly 50 served (an empty answer while one was
    // ready would leave it ready or let fewer through), the others empty, none twice.
    const second = await claimAll(pool, 64, 'b');
    const rest = names(second);
    expect(rest).toHaveLength(50);
    expect(second.filter((o) => o.kind === 'empty')).toHaveLength(14);
    expect(new Set([...got, ...rest]).size).toBe(200);
    const counts = await stores[1]!.countByState(pool);
    expect(counts.ready).toBe(0);
    expect(counts.claimed).toBe(200);
  }, 120_000);
});
