/**
 * `warmer simulate`: replays a job trace through warmer's decision code under several
 * sizing policies and prints what each would have cost and how often jobs would have
 * waited. Local only: nothing is sent to a server.
 */
import { readFile } from 'node:fs/promises';
import Table from 'cli-table3';
import { parseTrace, TraceError, type Trace } from '../shared/sim/trace.js';
import { poolSpecSchema, type PoolSpec } from '../shared/domain/pool-spec.js';
import type { WarmerClient } from './client.js';
import { runSizing, type RunOptions } from '../shared/sim/run.js';
import type { SizingReport } from '../shared/sim/report.js';
import type { BoundFit, ScheduleBoundRow } from '../shared/sim/schedule-bound.js';
import { DEFAULT_BOOT_MODEL } from '../shared/sim/rng.js';
import { UsageError } from './errors.js';
import { loadPoolsFile } from './pools-file.js';

export interface SimulateOptions {
  /** A trace file; without it, `pool` is read from a running warmer through `api`. */
  trace?: string;
  /** How many days of the pool's recorded claims (with `api`). */
  days?: number;
  pool?: string;
  file?: string;
  price?: number;
  seed?: number;
  warmupDays?: number;
  bootMedian?: number;
  bootFailureRate?: number;
  maxFixed?: number;
  peers?: boolean;
  /** Also the schedule bounds: the best target schedule per class kind, in and out of sample. */
  bounds?: boolean;
}

/** The pool's recorded claims, as a trace, and its spec, from a running warmer. */
export async function recordedTrace(
  api: Pick<WarmerClient, 'getPool' | 'getPoolDemand'>,
  pool: string,
  days: number,
): Promise<{ trace: Trace; spec: PoolSpec; file: string }> {
  const [view, demand] = await Promise.all([api.getPool(pool), api.getPoolDemand(pool, days)]);
  const jobs = demand.jobs.map((j) => ({ startMs: j.startedEpoch * 1000, durationMs: j.durationS * 1000 }));
  if (jobs.length === 0) throw new UsageError(`pool "${pool}" recorded no claims in the last ${days} day(s): nothing to replay`);
  const spec = poolSpecSchema.parse(view.spec);
  return {
    trace: { jobs, skipped: 0 },
    spec,
    file: `pool ${pool}: claims recorded ${demand.since} – ${demand.until} (${demand.jobs.filter((j) => !j.warm).length} missed)`,
  };
}

export async function simulateCommand(o: SimulateOptions, api?: Pick<WarmerClient, 'getPool' | 'getPoolDemand'>): Promise<SizingReport> {
  if (o.trace === undefined) {
    if (o.pool === undefined || api === undefined)
      throw new UsageError('give --trace FILE, or --pool NAME to replay the claims a running warmer recorded for it');
    if (o.file !== undefined) throw new UsageError('-f, --file needs --trace (without --trace the pool is read from the server)');
    const rec = await recordedTrace(api, o.pool, o.days ?? 7);
    return runSizing(rec.trace, { ...runOptions(o, rec.file), spec: rec.spec, poolName: o.pool });
  }
  let text: string;
  try {
    text = await readFile(o.trace, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(`${o.trace}: cannot read the trace (${e.code === 'ENOENT' ? 'no such file' : (e.code ?? e.message)})`);
  }
  let trace;
  try {
    trace = parseTrace(text);
  } catch (err) {
    if (err instanceof TraceError) throw new UsageError(`${o.trace}: ${err.message}`);
    throw err;
  }
  const run = runOptions(o, o.trace);
  if (o.pool !== undefined || o.file !== undefined) {
    if (o.file === undefined)
      throw new UsageError('--pool needs -f, --file <pools.yaml> to read the pool from (with --trace; without it, the pool is read from a running warmer)');
    const pools = await loadPoolsFile(o.file);
    const chosen = o.pool === undefined ? pools.pools[0] : pools.pools.find((p) => p.name === o.pool);
    if (!chosen)
      throw new UsageError(
        o.pool === undefined ? `${o.file}: no pools in the file` : `${o.file}: no pool "${o.pool}" (pools: ${pools.pools.map((p) => p.name).join(', ')})`,
      );
    run.spec = chosen.spec;
    run.poolName = chosen.name;
  }
  return runSizing(trace, run);
}

function runOptions(o: SimulateOptions, file: string): RunOptions {
  return {
    file,
    boot: {
      ...DEFAULT_BOOT_MODEL,
      ...(o.bootMedian === undefined ? {} : { medianS: o.bootMedian }),
      ...(o.bootFailureRate === undefined ? {} : { failureRate: o.bootFailureRate }),
    },
    ...(o.price === undefined ? {} : { pricePerHour: o.price }),
    ...(o.seed === undefined ? {} : { seed: o.seed }),
    ...(o.warmupDays === undefined ? {} : { warmupDays: o.warmupDays }),
    ...(o.maxFixed === undefined ? {} : { maxFixed: o.maxFixed }),
    ...(o.peers === undefined ? {} : { peers: o.peers }),
    ...(o.bounds ? { bounds: true } : {}),
  };
}

export function simulateText(r: SizingReport): string {
  const t = r.trace;
  const head = `trace ${String(t.file ?? '')}: ${String(t.jobs)} jobs over ${String(t.days)} days (${String(t.skippedNegativeDuration)} skipped), counted from ${String(t.measuredFrom)}; ${String(t.policiesRun)} policies in ${String(t.elapsedMs)} ms`;
  const table = new Table({ head: ['policy', 'warm hit', 'wait p50 s', 'p95 s', 'p99 s', 'idle VM-h', 'total VM-h', 'cost $'] });
  for (const p of r.policies) table.push([p.name, p.warmHitRate.toFixed(4), p.waitP50S, p.waitP95S, p.waitP99S, p.idleVmHours, p.totalVmHours, p.cost]);
  const cmp = new Table({ head: ['warm-hit target', 'demand idle VM-h', 'cheapest fixed', 'its idle VM-h', 'ratio'] });
  for (const c of r.comparison) cmp.push([c.warmHitTarget, c.demandIdleVmHours, c.bestFixedTarget ?? 'none', c.bestFixedIdleVmHours ?? '-', c.ratio ?? '-']);
  return `${head}\n${table.toString()}\n${cmp.toString()}\n${r.bounds ? boundsText(r.bounds) : ''}`;
}

/** The schedule bounds as a table: per class kind and warm-hit target, in and out of sample. */
function boundsText(rows: readonly ScheduleBoundRow[]): string {
  const fit = (f: BoundFit | null) => (f === null ? ['n/a (< 2 days)', '-'] : [`${f.ratio ?? '-'} × fixed-${f.bestFixedTarget ?? '-'}`, f.hitRate.toFixed(4)]);
  const t = new Table({ head: ['schedule keyed on', 'warm-hit target', 'hindsight: ratio', 'its hit', 'learned (1st half → 2nd): ratio', 'its hit'] });
  for (const b of rows) t.push([`${b.classes} (${b.classCount})`, b.warmHitTarget, ...fit(b.inSample), ...fit(b.outOfSample)]);
  return `the best target schedule per class kind (ratio: its idle VM-h over the cheapest fixed target reaching its hit rate)\n${t.toString()}\n`;
}
