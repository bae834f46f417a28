import { describe, expect, it } from 'vitest';
import { requestRefill } from '../../shared/services/refill-requests.js';
import { silentLogger } from '../../shared/logging.js';
import type { Publisher } from '../../shared/ports.js';
import type { RefillMessage } from '../../shared/domain/messages.js';

/** A publisher whose publishes end only when told to, recording when each started. */
class GatedPublisher implements Publisher {
  readonly started: RefillMessage[] = [];
  readonly #open: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  publishTeardown = async () => {};
  publishRefill(message: RefillMessage): Promise<void> {
    this.started.push(message);
    return new Promise((resolve, reject) => this.#open.push({ resolve, reject }));
  }
  async finish(fail = false) {
    const p = this.#open.shift()!;
    if (fail) p.reject(new Error('publish failed (injected)'));
    else p.resolve();
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }
  get open() {
    return this.#open.length;
  }
}

describe('requestRefill: coalesced per pool, never folded into the publish in flight', () => {
  it.each([
    { case: 'one request, one publish', requests: 1, want: 1 },
    { case: 'requests while one is in flight become one trailing publish', requests: 5, want: 2 },
  ])('$case', async ({ requests, want }) => {
    const publisher = new GatedPublisher();
    const deps = { publisher, logger: silentLogger };
    for (let i = 0; i < requests; i++) requestRefill(deps, 'p', `r${i}`);
    expect(publisher.started).toEqual([{ pool: 'p', reason: 'r0' }]);
    while (publisher.open > 0) await publisher.finish();
    expect(publisher.started).toHaveLength(want);
    // The trailing publish carries the last reason and starts only after the first ended.
    if (want === 2) expect(publisher.started[1]).toEqual({ pool: 'p', reason: `r${requests - 1}` });
  });

  it('a request after the publishes ended publishes again; pools do not share', async () => {
    const publisher = new GatedPublisher();
    const deps = { publisher, logger: silentLogger };
    requestRefill(deps, 'p', 'a');
    requestRefill(deps, 'q', 'b');
    expect(publisher.started.map((m) => m.pool)).toEqual(['p', 'q']);
    await publisher.finish();
    await publisher.finish();
    requestRefill(deps, 'p', 'c');
    expect(publisher.started.map((m) => m.reason)).toEqual(['a', 'b', 'c']);
    await publisher.finish();
  });

  it('a failed publish still sends the trailing one (and is only logged)', async () => {
    const publisher = new GatedPublisher();
    const warned: string[] = [];
    const logger = { ...silentLogger, warn: (m: string) => void warned.push(m) };
    requestRefill({ publisher, logger }, 'p', 'a');
    requestRefill({ publisher, logger }, 'p', 'b');
    await publisher.finish(true);
    expect(warned).toEqual(['refill request not published; reconcile catches up']);
    expect(publisher.started.map((m) => m.reason)).toEqual(['a', 'b']);
    await publisher.finish();
  });
});
