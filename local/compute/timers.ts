/** The emulator's timers: all cleared at once when it stops. */
export class Timers {
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  get isStopped(): boolean {
    return this.stopped;
  }

  after(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
