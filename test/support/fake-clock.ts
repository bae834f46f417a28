import type { Clock } from '../../shared/ports.js';

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

  advance(ms: number): void {
    this.#now += ms;
  }

  async sleep(ms: number): Promise<void> {
    this.slept.push(ms);
    this.#now += ms;
  }
}

/** A random source that returns the given values in turn (then repeats the last). */
export function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)]!;
}
