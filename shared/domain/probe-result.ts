/** The outcome of one health probe of a machine: what the health assessment reads. */
export type ProbeFailure = 'refused' | 'timed_out' | 'wrong_banner' | 'unreachable' | 'error';

export type ProbeResult = { ok: true; durationMs: number; banner: string | null } | { ok: false; durationMs: number; reason: ProbeFailure; detail: string };
