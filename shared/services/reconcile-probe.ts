/** Probing in a reconcile pass: which machines are due a health probe, and what to probe. */
import type { InstanceRecord } from '../domain/instance.js';
import type { PoolSpec } from '../domain/pool-spec.js';
import { combineProbes, probeAddresses, type ProbeResult, type ProbeTarget } from '../domain/probe.js';
import type { ReconcileDeps } from './reconcile-deps.js';

/** The probe of a machine at `address` under a pool's health check. */
export function probeTarget(healthCheck: PoolSpec['healthCheck'], address: string): ProbeTarget {
  return { address, port: healthCheck.port, expectSshBanner: healthCheck.expectSshBanner, timeoutMs: healthCheck.timeoutMs };
}

/**
 * Probes each record at the addresses its pool's health check dials (internal, public or
 * both: healthCheck.address) and combines them into one verdict per record, with the
 * per-address verdicts on it. Results in the order of the records.
 */
export async function probeHealth(
  deps: Pick<ReconcileDeps, 'prober' | 'settings'>,
  healthCheck: PoolSpec['healthCheck'],
  records: ReadonlyArray<Pick<InstanceRecord, 'ip' | 'publicIp'>>,
): Promise<ProbeResult[]> {
  const plan = records.map((r) => probeAddresses(healthCheck.address, r.ip, r.publicIp));
  const dialled = plan.flatMap((addrs) => addrs.filter((a) => a.ip !== null).map((a) => probeTarget(healthCheck, a.ip!)));
  const results = await deps.prober.probeMany(dialled, deps.settings.probeConcurrency);
  let i = 0;
  return plan.map((addrs) =>
    combineProbes(
      addrs.map((a) => ({
        kind: a.kind,
        result: a.ip === null ? { ok: false as const, durationMs: 0, reason: 'unreachable' as const, detail: `no ${a.kind} address` } : results[i++]!,
      })),
    ),
  );
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
  const results = await probeHealth(deps, spec.healthCheck, targets);
  const live = new Set(records.map((r) => r.name));
  const next = Object.fromEntries(Object.entries(probedAt).filter(([name]) => live.has(name)));
  for (const r of targets) next[r.name] = now;
  return { probes: new Map(targets.map((r, i) => [r.name, results[i]!])), probedAt: next };
}
