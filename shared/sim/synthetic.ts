/**
 * Seeded synthetic job traces, for tests and for checking that sizing generalises beyond
 * the one real trace: a day cycle, a weekend dip, bursts of a chosen size distribution.
 */
import { Rng } from './rng.js';
import type { TraceJob } from './trace.js';

export interface SyntheticShape {
  days: number;
  /** Epoch ms of the first day (a Monday 00:00 UTC by default). */
  startMs?: number;
  /** Mean bursts per hour at the daily peak. */
  peakBurstsPerHour: number;
  /** Trough rate as a share of the peak. */
  troughShare: number;
  /** UTC hour of the daily peak. */
  peakHour: number;
  /** Weekend rate as a share of a weekday. */
  weekendShare: number;
  /** Burst sizes: 1 + geometric with this mean of the extra jobs. */
  meanBurstExtra: number;
  /** Seconds over which one burst's jobs start. */
  burstSpreadS: number;
  /** Median job duration, seconds (log-normal, sigma 0.8). */
  medianJobS: number;
  seed: number;
}

export const DEFAULT_SYNTHETIC: SyntheticShape = {
  days: 14,
  startMs: Date.UTC(2025, 0, 6),
  peakBurstsPerHour: 6,
  troughShare: 0.2,
  peakHour: 10,
  weekendShare: 0.5,
  meanBurstExtra: 4,
  burstSpreadS: 90,
  medianJobS: 600,
  seed: 7,
};

export function syntheticTrace(shape: Partial<SyntheticShape> = {}): TraceJob[] {
  const s = { ...DEFAULT_SYNTHETIC, ...shape };
  const rng = new Rng(s.seed);
  const start = s.startMs ?? Date.UTC(2025, 0, 6);
  const jobs: TraceJob[] = [];
  const minute = 60_000;
  for (let m = 0; m < s.days * 1440; m++) {
    const t = start + m * minute;
    const hour = (m / 60) % 24;
    const day = Math.floor(m / 1440) % 7; // 0 = Monday when start is a Monday
    const cycle = 0.5 + 0.5 * Math.cos(((hour - s.peakHour) / 24) * 2 * Math.PI);
    const rate = s.peakBurstsPerHour * (s.troughShare + (1 - s.troughShare) * cycle) * (day >= 5 ? s.weekendShare : 1);
    if (rng.next() >= rate / 60) continue;
    let size = 1;
    while (rng.next() < s.meanBurstExtra / (1 + s.meanBurstExtra)) size++;
    for (let i = 0; i < size; i++) {
      const at = t + Math.floor(rng.next() * s.burstSpreadS * 1000);
      jobs.push({ startMs: at, durationMs: Math.round(s.medianJobS * Math.exp(0.8 * rng.normal()) * 1000) });
    }
  }
  return jobs.sort((a, b) => a.startMs - b.startMs);
}

/** The trace as CSV (started_epoch, duration_s), the format `--trace` reads. */
export function traceCsv(jobs: readonly TraceJob[]): string {
  return ['started_epoch,duration_s', ...jobs.map((j) => `${Math.floor(j.startMs / 1000)},${Math.round(j.durationMs / 1000)}`)].join('\n') + '\n';
}
