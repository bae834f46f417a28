/** The simulator's event queue: a binary min-heap of events by time, then insertion order. */

export const PASS = 1;
export const JOB_END = 2;
export const DELETE_DONE = 3;
export const FALLBACK_READY = 4;

export interface Ev {
  t: number;
  seq: number;
  kind: number;
  ref: number;
}

/** A binary min-heap of events by time, then insertion order. */
export class EventQueue {
  private heap: Ev[] = [];
  private seq = 0;
  get size(): number {
    return this.heap.length;
  }
  peek(): Ev | undefined {
    return this.heap[0];
  }
  push(t: number, kind: number, ref: number): void {
    const e = { t, seq: this.seq++, kind, ref };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, h[p] as Ev)) break;
      h[i] = h[p] as Ev;
      i = p;
    }
    h[i] = e;
  }
  pop(): Ev | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let mv = last;
        if (l < h.length && before(h[l] as Ev, mv)) {
          m = l;
          mv = h[l] as Ev;
        }
        if (r < h.length && before(h[r] as Ev, mv)) m = r;
        if (m === i) break;
        h[i] = h[m] as Ev;
        i = m;
      }
      h[i] = last;
    }
    return top;
  }
}

function before(a: Ev, b: Ev): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}
