/**
 * Job traces for the sizing simulator: a CSV with at least `started_epoch` (UTC seconds,
 * when a machine is wanted) and `duration_s` (how long the job holds it). Rows with a
 * negative duration (cancelled jobs in GitHub's data) are skipped and counted.
 */
import { parse } from 'csv-parse/sync';

export interface TraceJob {
  /** Epoch ms. */
  startMs: number;
  durationMs: number;
}

export interface Trace {
  jobs: TraceJob[];
  skipped: number;
}

export class TraceError extends Error {}

export function parseTrace(csv: string): Trace {
  let rows: Array<Record<string, string>>;
  try {
    rows = parse(csv, { columns: true, skip_empty_lines: true, trim: true });
  } catch (err) {
    throw new TraceError(`not a CSV trace: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (rows.length === 0) throw new TraceError('the trace has no rows');
  const first = rows[0] as Record<string, string>;
  for (const col of ['started_epoch', 'duration_s']) if (!(col in first)) throw new TraceError(`the trace has no "${col}" column`);
  const jobs: TraceJob[] = [];
  let skipped = 0;
  rows.forEach((row, i) => {
    const start = Number(row.started_epoch);
    const duration = Number(row.duration_s);
    if (row.started_epoch === '' || row.duration_s === '' || !Number.isFinite(start) || !Number.isFinite(duration)) {
      throw new TraceError(`row ${i + 2}: started_epoch and duration_s must be numbers`);
    }
    if (duration < 0) {
      skipped++;
      return;
    }
    jobs.push({ startMs: start * 1000, durationMs: duration * 1000 });
  });
  jobs.sort((a, b) => a.startMs - b.startMs);
  return { jobs, skipped };
}

/** The jobs with start in [fromMs, toMs). */
export function sliceTrace(jobs: readonly TraceJob[], fromMs: number, toMs: number): TraceJob[] {
  return jobs.filter((j) => j.startMs >= fromMs && j.startMs < toMs);
}
