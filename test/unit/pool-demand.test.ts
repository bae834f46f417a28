/** A pool's recorded demand as a job trace (GET /pools/{name}/demand), over memory stores. */
import { describe, expect, it } from 'vitest';
import { MemoryInstanceStore, MemoryPoolStore } from '../../shared/adapters/memory-store.js';
import { MemoryHistoryStore } from '../../shared/adapters/memory-history.js';
import { memoryLogger } from '../../shared/logging.js';
import { poolDemand } from '../../shared/services/pool-demand.js';
import { FakePublisher } from '../support/fake-publisher.js';
import { record, spec } from '../support/builders.js';

const NOW = 1_800_000_000_000;
const DAY = 86_400_000;

async function setup() {
  const deps = {
    pools: new MemoryPoolStore(),
    instances: new MemoryInstanceStore(),
    history: new MemoryHistoryStore(),
    publisher: new FakePublisher(),
    clock: { now: () => NOW },
    logger: memoryLogger(),
  };
  await deps.pools.putPool('ci', spec(), NOW - 30 * DAY);
  const claimed = (name: string, claimedAt: number, deletingAt?: number) => {
    const r = record({ pool: 'ci', state: deletingAt === undefined ? 'claimed' : 'deleted', at: claimedAt, name });
    return deps.instances.create({
      ...r,
      claim: { claimedAt, expiresAt: null, principal: 'bot', assignee: null, labels: {}, requestId: name },
      stateChangedAt: { ...r.stateChangedAt, claimed: claimedAt, ...(deletingAt === undefined ? {} : { deleting: deletingAt }) },
    } as typeof r);
  };
  return { deps, claimed };
}

describe('poolDemand', () => {
  it('served jobs from claimed records (claimed → teardown, or now), missed ones from claim_miss events with the median served duration; oldest first, within the window', async () => {
    const { deps, claimed } = await setup();
    await claimed('ci-a', NOW - 2 * DAY, NOW - 2 * DAY + 600_000);
    await claimed('ci-b', NOW - DAY, NOW - DAY + 1_200_000);
    await claimed('ci-c', NOW - 300_000); // still held: until now
    await claimed('ci-old', NOW - 9 * DAY, NOW - 9 * DAY + 60_000); // before the window
    await deps.instances.create(record({ pool: 'ci', state: 'ready', at: NOW - 1000, name: 'ci-ready' })); // never claimed
    await deps.history.record({ type: 'claim_miss', pool: 'ci', at: NOW - 3 * DAY, count: 2 });
    await deps.history.record({ type: 'ready', pool: 'ci', at: NOW - 3 * DAY, instance: 'ci-a', durationMs: 40_000 });
    const d = await poolDemand(deps, 'ci', 7);
    expect(d).toMatchObject({ pool: 'ci', since: NOW - 7 * DAY, until: NOW, missedDurationS: 600 });
    expect(d.jobs).toEqual([
      { startedEpoch: (NOW - 3 * DAY) / 1000, durationS: 600, warm: false },
      { startedEpoch: (NOW - 3 * DAY) / 1000, durationS: 600, warm: false },
      { startedEpoch: (NOW - 2 * DAY) / 1000, durationS: 600, warm: true },
      { startedEpoch: (NOW - DAY) / 1000, durationS: 1200, warm: true },
      { startedEpoch: (NOW - 300_000) / 1000, durationS: 300, warm: true },
    ]);
  });

  it.each([
    ['0 days', 0],
    ['negative', -1],
    ['more than 30', 31],
    ['not a number', NaN],
  ])('days %s is a bad request', async (_n, days) => {
    const { deps } = await setup();
    await expect(poolDemand(deps, 'ci', days)).rejects.toMatchObject({ code: 'bad_request', status: 400 });
  });

  it('an unknown pool is not found', async () => {
    const { deps } = await setup();
    await expect(poolDemand(deps, 'nope', 7)).rejects.toMatchObject({ code: 'not_found', status: 404 });
  });
});
