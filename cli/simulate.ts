/**
 * `warmer simulate`: replays a job trace through warmer's decision code under several
 * sizing policies and prints what each would have cost and how often jobs would have
 * waited. Local only: nothing is sent to a server.
 */
import { readFile } from 'node:fs/promises';
import Table from 'cli-table3';
import { parseTrace, TraceError } from '../shared/sim/trace.js';
import { runSizing, type RunOptions } from '../shared/sim/run.js';
import type { SizingReport } from '../shared/sim/report.js';
import { DEFAULT_BOOT_MODEL } from '../shared/sim/rng.js';
import { UsageError } from './errors.js';
import { loadPoolsFile } from './pools-file.js';

export interface SimulateOptions {
  trace: string;
  pool?: string;
  file?: string;
  price?: number;
  seed?: number;
  warmupDays?: number;
  bootMedian?: number;
  bootFailureRate?: number;
  maxFixed?: number;
  peers?: boolean;
}

export async function simulateCommand(o: SimulateOptions): Promise<SizingReport> {
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
  const run: RunOptions = {
    file: o.trace,
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
  };
  if (o.pool !== undefined || o.file !== undefined) {
    if (o.file === undefined) throw new UsageError('--pool needs -f, --file <pools.yaml> to read the pool from');
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

export function simulateText(r: SizingReport): string {
  const t = r.trace;
  const head = `trace ${String(t.file ?? '')}: ${String(t.jobs)} jobs over ${String(t.days)} days (${String(t.skippedNegativeDuration)} skipped), counted from ${String(t.measuredFrom)}; ${String(t.policiesRun)} policies in ${String(t.elapsedMs)} ms`;
  const table = new Table({ head: ['policy', 'warm hit', 'wait p50 s', 'p95 s', 'p99 s', 'idle VM-h', 'total VM-h', 'cost $'] });
  for (const p of r.policies) table.push([p.name, p.warmHitRate.toFixed(4), p.waitP50S, p.waitP95S, p.waitP99S, p.idleVmHours, p.totalVmHours, p.cost]);
  const cmp = new Table({ head: ['warm-hit target', 'demand idle VM-h', 'cheapest fixed', 'its idle VM-h', 'ratio'] });
  for (const c of r.comparison) cmp.push([c.warmHitTarget, c.demandIdleVmHours, c.bestFixedTarget ?? 'none', c.bestFixedIdleVmHours ?? '-', c.ratio ?? '-']);
  return `${head}\n${table.toString()}\n${cmp.toString()}\n`;
}
