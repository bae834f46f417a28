/** A health probe of a machine: what is probed and what came back. */

export interface ProbeTarget {
  address: string;
  port: number;
  /** Read the `SSH-2.0-` banner, not just a TCP connect. */
  expectSshBanner: boolean;
  timeoutMs: number;
}

export type ProbeFailure = 'refused' | 'timed_out' | 'wrong_banner' | 'unreachable' | 'error';

export type ProbeResult = { ok: true; durationMs: number; banner: string | null } | { ok: false; durationMs: number; reason: ProbeFailure; detail: string };
