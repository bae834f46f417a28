/**
 * A pass's hold on its pool: the lease renewed by a heartbeat while the pass runs, and
 * the fence (the lease's generation) checked before each action. Once lost (renewals
 * refused, or failing until the lease ran out, or a check finds another generation) it
 * stays lost: the pass stops acting and the pass that took the lease over is the only one
 * that creates or deletes.
 */
import type { LeaseGrant } from '../domain/pool-runtime.js';
import type { Logger } from '../logging.js';
import type { After, Clock, Fence, PoolRuntimeStore } from '../ports.js';

export const realAfter: After = (ms, signal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    timer.unref?.();
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

export class PassFence {
  #lease: LeaseGrant;
  /** Until when the lease is ours for sure (the last renewal we saw succeed). */
  #validUntil: number;
  #lost = false;
  readonly #stop = new AbortController();
  readonly #heartbeat: Promise<void>;

  constructor(
    private readonly deps: { runtime: PoolRuntimeStore; clock: Clock; logger: Logger; after?: After },
    lease: LeaseGrant,
    private readonly ttlMs: number,
  ) {
    this.#lease = lease;
    this.#validUntil = deps.clock.now() + ttlMs;
    this.#heartbeat = this.#beat();
  }

  get lease(): LeaseGrant {
    return this.#lease;
  }

  get lost(): boolean {
    return this.#lost || this.deps.clock.now() >= this.#validUntil;
  }

  /** The token a fenced write carries. */
  fence(): Fence {
    return { pool: this.#lease.pool, holder: this.#lease.holder, generation: this.#lease.generation, now: this.deps.clock.now() };
  }

  /** Before a delete (or anything else that must not outlive the lease): one read of the lease. */
  async check(): Promise<boolean> {
    if (this.lost) return false;
    try {
      if (await this.deps.runtime.checkLease(this.#lease, this.deps.clock.now())) return true;
    } catch (err) {
      this.deps.logger.warn('lease check failed; not acting', { pool: this.#lease.pool }, err);
      return false;
    }
    this.#markLost('fence check: another pass holds the lease');
    return false;
  }

  /** Stops the heartbeat (and waits for a renewal in flight). */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#heartbeat;
  }

  #markLost(why: string) {
    if (!this.#lost) this.deps.logger.warn('lease lost; the pass stops acting', { pool: this.#lease.pool, generation: this.#lease.generation, why });
    this.#lost = true;
  }

  async #beat(): Promise<void> {
    const after = this.deps.after ?? realAfter;
    const every = Math.max(1, Math.floor(this.ttlMs / 3));
    while (!this.#stop.signal.aborted && !this.#lost) {
      await after(every, this.#stop.signal);
      if (this.#stop.signal.aborted) return;
      const now = this.deps.clock.now();
      try {
        if (await this.deps.runtime.renewLease(this.#lease, now, this.ttlMs)) this.#validUntil = now + this.ttlMs;
        else this.#markLost('renewal refused');
      } catch (err) {
        // A failed renewal is not a lost lease yet: `lost` turns true when #validUntil passes.
        this.deps.logger.warn('lease renewal failed; retrying', { pool: this.#lease.pool }, err);
      }
    }
  }
}

/**
 * Waits for `work` at most `ms` on the clock; false when it is still running (it goes on
 * in the background, its errors logged by the caller's own handling).
 */
export async function settlesWithin(work: Promise<unknown>, ms: number, after: After = realAfter): Promise<boolean> {
  const stop = new AbortController();
  let done = false;
  await Promise.race([
    work.then(
      () => (done = true),
      () => (done = true),
    ),
    after(ms, stop.signal),
  ]);
  stop.abort();
  return done;
}
