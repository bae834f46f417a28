/** Probing in a reconcile pass: which machines are due a health probe, and what to probe. */
import type { InstanceRecord } from '../domain/instance.js';
import type { PoolSpec } from '../domain/pool-spec.js';
import type { ProbeResult, ProbeTarget } from '../domain/probe.js';
import type { ReconcileDeps } from './reconcile.js';

/** The probe of a machine at `address` under a pool's health check. */
export function probeTarget(healthCheck: PoolSpec['healthCheck'], address: string): ProbeTarget {
  return { address, port: healthCheck.port, expectSshBanner: healthCheck.expectSshBanner, timeoutMs: healthCheck.timeoutMs };
}

/**
 * Probes booting machines every pass, and ready and claimed ones once their health
 * check interval has passed since their last probe. Returns the results and the updated
 * last-probe times (for the live records only).
 */
export async function probeRecords(
  deps: ReconcileDeps,
  spec: PoolSpec,
  records: InstanceRecord[],
  probedAt: Record<string, number>,
  now: number,
): Promise<{ probes: Map<string, ProbeResult>; probedAt: Record<string, number> }> {
  const intervalMs = spec.healthCheck.intervalSeconds * 1000;
  const due = (r: InstanceRecord) => r.state === 'booting' || now - (probedAt[r.name] ?? 0) >= intervalMs;
  const targets = records.filter((r) => (r.state === 'booting' || r.state === 'ready' || r.state === 'claimed') && r.ip && due(r));
  const results = await deps.prober.probeMany(
    targets.map((r) => probeTarget(spec.healthCheck, r.ip!)),
    deps.settings.probeConcurrency,
  );
  const live = new Set(records.map((r) => r.name));
  const next = Object.fromEntries(Object.entries(probedAt).filter(([name]) => live.has(name)));
  for (const r of targets) next[r.name] = now;
  return { probes: new Map(targets.map((r, i) => [r.name, results[i]!])), probedAt: next };
}
