import type { After, Clock } from '../../shared/ports.js';

/** A clock that moves only when told to; `sleep` moves it (and records how long was slept). */
export class FakeClock implements Clock {
  #now: number;
  readonly slept: number[] = [];

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  readonly #timers: Array<{ at: number; fire: () => void }> = [];

  advance(ms: number): void {
    this.#now += ms;
    this.#fireDue();
  }

  async sleep(ms: number): Promise<void> {
    this.slept.push(ms);
    this.#now += ms;
    this.#fireDue();
  }

  /** The `After` of the services: resolves when the clock is moved past `ms` from now, or on abort. */
  readonly after: After = (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = { at: this.#now + ms, fire: resolve };
      this.#timers.push(timer);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.#timers.indexOf(timer);
          if (i >= 0) this.#timers.splice(i, 1);
          resolve();
        },
        { once: true },
      );
    });

  /** Timers waiting on `after`. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  #fireDue(): void {
    for (const t of [...this.#timers]) {
      if (t.at <= this.#now) {
        this.#timers.splice(this.#timers.indexOf(t), 1);
        t.fire();
      }
    }
  }
}

/** A random source that returns the given values in turn (then repeats the last). */
export function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)]!;
}
