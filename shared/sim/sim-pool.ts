/**
 * The simulated pool's machines and its accounting: each machine's record (as Firestore
 * would hold it) and listed machine (as Compute Engine would list it), the live set, the
 * state counts a pass needs, and the idle / total VM time clipped to the measured window.
 */
import type { InstanceRecord } from '../domain/instance.js';
import type { Machine } from '../domain/machine.js';
import type { SimResult } from './policy.js';

export interface SimMachine {
  /** Index in SimPool.machines (the ref of its events). */
  idx: number;
  rec: InstanceRecord;
  machine: Machine;
  bootDoneAt: number;
  /** Idle accounting: when it became ready; null while not ready. */
  readyAt: number | null;
}

/** Length of [a, b) ∩ [from, to). */
export function clip(a: number, b: number, from: number, to: number): number {
  return Math.max(0, Math.min(b, to) - Math.max(a, from));
}

export class SimPool {
  /**
   * Every machine created, by index; a deleted one's slot is emptied (nothing refers to it
   * any more), so a replay does not hold tens of thousands of dead machines until it ends.
   */
  readonly machines: Array<SimMachine | undefined> = [];
  /** Machines not yet deleted (booting, ready, claimed, deleting). */
  live: SimMachine[] = [];
  ready = 0;
  booting = 0;
  claimed = 0;

  constructor(
    private readonly zone: string,
    private readonly result: SimResult,
    /** The measured window [from, to). */
    private readonly from: number,
    private readonly to: number,
  ) {}

  byName(name: string): SimMachine {
    // Names are `sim-<idx>`.
    return this.machines[Number(name.slice(4))] as SimMachine;
  }

  create(t: number, bootMs: number): SimMachine {
    const idx = this.machines.length;
    const name = `sim-${idx}`;
    const rec: InstanceRecord = {
      name,
      pool: 'sim',
      zone: this.zone,
      state: 'booting',
      requestId: name,
      deleteRequestId: null,
      ip: '10.0.0.1',
      publicIp: null,
      createdAt: t,
      stateChangedAt: { creating: t, booting: t },
      updatedAt: t,
      claim: null,
      health: { consecutiveFailures: 0, lastProbeAt: null, lastError: null },
      reason: null,
      sshPrivateKeyEncrypted: null,
      sshPublicKeyEntry: null,
    };
    const m: SimMachine = {
      idx,
      rec,
      machine: { name, zone: this.zone, status: 'RUNNING', ip: '10.0.0.1', publicIp: null, labels: {}, labelFingerprint: null, createdAt: t },
      bootDoneAt: t + bootMs,
      readyAt: null,
    };
    this.machines.push(m);
    this.live.push(m);
    this.booting++;
    this.result.machinesCreated++;
    return m;
  }

  /** booting → ready (a pass's probe found it booted). */
  markReady(m: SimMachine, t: number): void {
    this.leave(m);
    m.rec.state = 'ready';
    m.rec.stateChangedAt.ready = t;
    m.rec.updatedAt = t;
    m.readyAt = t;
    this.ready++;
  }

  /** ready → claimed. */
  claim(m: SimMachine, t: number): void {
    this.leave(m);
    this.endIdle(m, t);
    m.rec.state = 'claimed';
    m.rec.stateChangedAt.claimed = t;
    m.rec.updatedAt = t;
    this.claimed++;
  }

  /** Any live state → deleting (a teardown, or a job's end). */
  startDelete(m: SimMachine, t: number): void {
    this.leave(m);
    this.endIdle(m, t);
    m.rec.state = 'deleting';
    m.rec.stateChangedAt.deleting = t;
    m.rec.updatedAt = t;
  }

  /** deleting → deleted: the machine is gone; its whole life counts in total VM time. */
  deleted(m: SimMachine, t: number): void {
    m.rec.state = 'deleted';
    this.result.totalMs += clip(m.rec.createdAt, t, this.from, this.to);
    this.live = this.live.filter((x) => x !== m);
    this.machines[m.idx] = undefined;
  }

  /** The machines still alive at the end of the replay. */
  close(): void {
    for (const m of this.live) {
      this.endIdle(m, this.to);
      this.result.totalMs += clip(m.rec.createdAt, this.to, this.from, this.to);
    }
  }

  private endIdle(m: SimMachine, t: number): void {
    if (m.readyAt !== null) {
      this.result.idleMs += clip(m.readyAt, t, this.from, this.to);
      m.readyAt = null;
    }
  }

  /** Drops the machine from the count of its current state. */
  private leave(m: SimMachine): void {
    const s = m.rec.state;
    if (s === 'ready') this.ready--;
    else if (s === 'booting') this.booting--;
    else if (s === 'claimed') this.claimed--;
  }
}
