/**
 * Reconcile: keep every pool full and healthy. For each pool, under a short lease:
 *   1. observe its records and the machines carrying its label (a failed listing stops
 *      the pool's pass: a partial inventory must never cause over-creation or wrong deletes);
 *   2. probe booting and ready machines (bounded concurrency, short timeout);
 *   3. decide with planReconcile, a pure function of (spec, records, observations, now);
 *   4. act: state changes as compare-and-set, creations with the record written first,
 *      teardowns as messages, orphans deleted, cold zones and the breaker remembered.
 * One pool's failure never blocks another.
 */
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { isWarmerError, WarmerError } from '../errors.js';
import { LIVE_STATES, newInstanceRecord, type InstanceRecord } from '../domain/instance.js';
import { regionOfZone, type Pool, type PoolSpec } from '../domain/pool-spec.js';
import { instanceName, newRequestId } from '../domain/naming.js';
import { planReconcile, DEFAULT_RECONCILE_SETTINGS, type ReconcilePlan } from '../domain/reconcile-plan.js';
import { recordCreateResults } from '../domain/breaker.js';
import { issueMachineKey } from '../machine-keys.js';
import type { Logger } from '../logging.js';
import { recordHistory, type HistoryStore } from '../history.js';
import type { Clock, Compute, InstanceStore, PoolRuntimeStore, PoolStore, Prober, Publisher } from '../ports.js';
import type { Machine, QuotaHeadroom } from '../domain/machine.js';
import type { PoolRuntime } from '../domain/pool-runtime.js';
import type { ProbeResult } from '../domain/probe.js';

export interface ReconcileSettings {
  orphanGraceMs: number;
  deletingStuckMs: number;
  creatingStuckMs: number;
  leaseMs: number;
  /** How long a stocked-out zone stays cold. */
  coldZoneMs: number;
  probeConcurrency: number;
  createConcurrency: number;
  /** Pools reconciled at once by reconcileAll. */
  poolConcurrency: number;
  /** Passphrase for per-machine keys; pools that issue them cannot create without it. */
  sshKeyPassphrase: string | null;
  dryRun: boolean;
}

export const DEFAULT_SETTINGS: ReconcileSettings = {
  ...DEFAULT_RECONCILE_SETTINGS,
  leaseMs: 120_000,
  coldZoneMs: 5 * 60_000,
  probeConcurrency: 64,
  createConcurrency: 10,
  poolConcurrency: 4,
  sshKeyPassphrase: null,
  dryRun: false,
};

export interface ReconcileDeps {
  pools: PoolStore;
  instances: InstanceStore;
  runtime: PoolRuntimeStore;
  compute: Compute;
  prober: Prober;
  publisher: Publisher;
  clock: Clock;
  logger: Logger;
  settings: ReconcileSettings;
  /** Identifies this process's leases. */
  holder?: string;
  /** Machines becoming ready with their boot time, for the status page (best effort; optional). */
  history?: HistoryStore;
}

export interface PassSummary {
  pool: string;
  outcome: 'done' | 'skipped_lease' | 'no_pool' | 'inventory_failed' | 'error';
  created: number;
  createFailed: number;
  tornDown: number;
  orphansDeleted: number;
  recordsClosed: number;
  madeReady: number;
  madeUnhealthy: number;
  durationMs: number;
  error?: string;
}

const emptySummary = (pool: string, outcome: PassSummary['outcome']): PassSummary => ({
  pool,
  outcome,
  created: 0,
  createFailed: 0,
  tornDown: 0,
  orphansDeleted: 0,
  recordsClosed: 0,
  madeReady: 0,
  madeUnhealthy: 0,
  durationMs: 0,
});

export async function reconcileAll(deps: ReconcileDeps): Promise<PassSummary[]> {
  const pools = await deps.pools.listPools();
  const limit = pLimit(deps.settings.poolConcurrency);
  return Promise.all(pools.map((p) => limit(() => reconcilePool(deps, p.name))));
}

/** Reconciles one pool; never throws (the summary says what happened). */
export async function reconcilePool(deps: ReconcileDeps, poolName: string): Promise<PassSummary> {
  const started = deps.clock.now();
  const holder = deps.holder ?? `pass-${randomUUID()}`;
  const log = deps.logger.child({ pool: poolName });
  let acquired = false;
  try {
    acquired = await deps.runtime.acquireLease(poolName, holder, started, deps.settings.leaseMs);
    if (!acquired) {
      log.info('reconcile skipped: another pass holds the lease');
      return emptySummary(poolName, 'skipped_lease');
    }
    const pool = await deps.pools.getPool(poolName);
    if (!pool) return emptySummary(poolName, 'no_pool');
    const summary = await runPass(deps, pool, started, log);
    summary.durationMs = deps.clock.now() - started;
    log.info('reconcile pass', { ...summary });
    return summary;
  } catch (err) {
    log.error('reconcile pass failed', {}, err);
    return { ...emptySummary(poolName, 'error'), error: (err as Error).message, durationMs: deps.clock.now() - started };
  } finally {
    if (acquired) await deps.runtime.releaseLease(poolName, holder).catch((err) => log.warn('lease not released', {}, err));
  }
}

async function runPass(deps: ReconcileDeps, pool: Pool, now: number, log: Logger): Promise<PassSummary> {
  const { spec } = pool;
  const summary = emptySummary(pool.name, 'done');

  // 1. Observe. Both listings must be complete, or nothing is decided.
  // Records are read BEFORE machines are listed: a machine created after the records
  // were read is then seen as an orphan younger than the grace period (left alone), never
  // as a record whose machine is gone.
  let records: InstanceRecord[];
  let machines: Machine[];
  try {
    records = await deps.instances.listByPool(pool.name, LIVE_STATES);
    machines = await deps.compute.listMachines({ 'warmer-pool': pool.name });
  } catch (err) {
    log.error('inventory failed; pass stopped for this pool', {}, err);
    return { ...summary, outcome: 'inventory_failed', error: (err as Error).message };
  }
  const runtime = await deps.runtime.getRuntime(pool.name);

  // 2. Probe booting and ready machines that have an address.
  const { probes, probedAt } = await probeRecords(deps, spec, records, runtime.probedAt ?? {}, now);

  // Quota: every region the pool's zones are in; unknown (read failed) → null.
  const quota = await readQuota(deps, spec, log);

  // 3. Decide.
  const plan = planReconcile({
    pool: pool.name,
    spec,
    now,
    records,
    machines,
    probes,
    quota,
    coldZones: runtime.coldZones,
    breaker: runtime.breaker,
    settings: {
      orphanGraceMs: deps.settings.orphanGraceMs,
      deletingStuckMs: deps.settings.deletingStuckMs,
      creatingStuckMs: deps.settings.creatingStuckMs,
    },
  });
  for (const e of plan.events) {
    const fields = { ...(e.fields ?? {}) };
    if (e.severity === 'ERROR') log.error(e.message, fields);
    else if (e.severity === 'WARNING') log.warn(e.message, fields);
    else log.info(e.message, fields);
  }
  if (deps.settings.dryRun) {
    log.notice('dry run: plan not applied', { plan: summarizePlan(plan) });
    return summary;
  }

  // 4. Act.
  await applyTransitions(deps, plan, now, summary);
  await applyTeardowns(deps, pool.name, plan, now, summary, log);
  await applyCloses(deps, plan, now, summary);
  await deleteOrphans(deps, plan, summary, log);
  // The breaker judges the image, not just the insert: a machine that reached ready is a
  // success; insert errors and boot timeouts are failures (a bad image often inserts fine
  // and never boots).
  const bootFailures = plan.teardowns.filter((t) => t.reason === 'boot_timeout').length +
    plan.transitions.filter((t) => t.to === 'failed').length;
  const nextRuntime = await applyCreates(deps, pool, plan, runtime, now, summary, log, { ready: summary.madeReady, bootFailures });
  await syncClaimLabels(deps, records, machines, log);

  nextRuntime.probedAt = probedAt;
  nextRuntime.lastPass = {
    startedAt: now,
    durationMs: deps.clock.now() - now,
    created: summary.created,
    tornDown: summary.tornDown,
    orphansDeleted: summary.orphansDeleted,
    error: null,
  };
  await deps.runtime.saveRuntime(pool.name, nextRuntime);
  return summary;
}

function summarizePlan(plan: ReconcilePlan) {
  return {
    transitions: plan.transitions.length,
    teardowns: plan.teardowns.map((t) => `${t.name}:${t.reason}`),
    creates: plan.creates.map((c) => c.zone),
    orphans: plan.orphans.map((o) => o.name),
    closeRecords: plan.closeRecords.map((c) => c.name),
  };
}

/**
 * Probes booting machines every pass, and ready and claimed ones once their health
 * check interval has passed since their last probe. Returns the results and the updated
 * last-probe times (for the live records only).
 */
async function probeRecords(
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
    targets.map((r) => ({
      address: r.ip!,
      port: spec.healthCheck.port,
      expectSshBanner: spec.healthCheck.expectSshBanner,
      timeoutMs: spec.healthCheck.timeoutMs,
    })),
    deps.settings.probeConcurrency,
  );
  const live = new Set(records.map((r) => r.name));
  const next = Object.fromEntries(Object.entries(probedAt).filter(([name]) => live.has(name)));
  for (const r of targets) next[r.name] = now;
  return { probes: new Map(targets.map((r, i) => [r.name, results[i]!])), probedAt: next };
}

async function readQuota(deps: ReconcileDeps, spec: PoolSpec, log: Logger): Promise<QuotaHeadroom | null> {
  const regions = [...new Set(spec.zones.map(regionOfZone))];
  try {
    const all = await Promise.all(regions.map((r) => deps.compute.quotaHeadroom(r)));
    // Multi-region pools: the tightest region bounds this pass (conservative).
    return all.reduce((a, b) => ({
      region: a.region,
      cpus: Math.min(a.cpus, b.cpus),
      instances: Math.min(a.instances, b.instances),
      inUseAddresses: Math.min(a.inUseAddresses, b.inUseAddresses),
    }));
  } catch (err) {
    log.warn('quota read failed; creating nothing this pass', { regions }, err);
    return null;
  }
}

async function applyTransitions(deps: ReconcileDeps, plan: ReconcilePlan, now: number, summary: PassSummary) {
  const limit = pLimit(16);
  await Promise.all([
    ...plan.transitions.map((t) =>
      limit(async () => {
        const next = await deps.instances.transition(t.name, [t.from], t.to, now, (t.patch ?? {}) as Partial<InstanceRecord>);
        if (next && t.to === 'ready') {
          summary.madeReady++;
          await recordReady(deps, next, now);
        }
        if (next && t.to === 'unhealthy') summary.madeUnhealthy++;
      }),
    ),
    ...plan.healthUpdates.map((h) => limit(() => deps.instances.update(h.name, [h.state], { health: h.health }))),
  ]);
}

/** A machine that just became ready: its boot time (ready − created) goes to the history. */
async function recordReady(deps: ReconcileDeps, r: InstanceRecord, now: number): Promise<void> {
  const readyAt = r.stateChangedAt.ready ?? now;
  await recordHistory(deps.history, deps.logger, { type: 'ready', pool: r.pool, at: readyAt, instance: r.name, durationMs: Math.max(0, readyAt - r.createdAt) });
}

async function applyTeardowns(deps: ReconcileDeps, poolName: string, plan: ReconcilePlan, now: number, summary: PassSummary, log: Logger) {
  const limit = pLimit(16);
  await Promise.all(
    plan.teardowns.map((t) =>
      limit(async () => {
        const next = await deps.instances.transition(t.name, [t.from], 'deleting', now, { reason: t.reason, deleteRequestId: randomUUID() });
        if (!next) return; // moved meanwhile (claimed, released): the compare-and-set protects it
        summary.tornDown++;
        await publishTeardown(deps, next.name, next.pool, t.reason, log);
      }),
    ),
  );
  await Promise.all(plan.republish.map((r) => limit(() => publishTeardown(deps, r.name, poolName, r.reason, log))));
}

async function publishTeardown(deps: ReconcileDeps, name: string, pool: string, reason: string, log: Logger) {
  try {
    await deps.publisher.publishTeardown({ instance: name, pool, reason });
  } catch (err) {
    // The record stays `deleting`; the next pass re-publishes it.
    log.warn('teardown not published; will retry next pass', { instance: name }, err);
  }
}

async function applyCloses(deps: ReconcileDeps, plan: ReconcilePlan, now: number, summary: PassSummary) {
  for (const c of plan.closeRecords) {
    // A `deleting` record keeps the reason of the teardown it was waiting for (its machine
    // is gone: that teardown is done, whoever closes the record).
    const next = await deps.instances.transition(c.name, [c.from], 'deleted', now, c.from === 'deleting' ? {} : { reason: c.reason });
    if (!next) continue;
    summary.recordsClosed++;
    // Only the closer records the teardown (as the teardown handler does), so the status
    // page lists machines that went without a teardown of ours too (deleted behind our
    // back, preempted, their maxRunDuration fired), each once.
    await recordHistory(deps.history, deps.logger, { type: 'teardown', pool: next.pool, at: now, instance: next.name, reason: next.reason ?? c.reason });
  }
}

async function deleteOrphans(deps: ReconcileDeps, plan: ReconcilePlan, summary: PassSummary, log: Logger) {
  const limit = pLimit(deps.settings.createConcurrency);
  await Promise.all(
    plan.orphans.map((o) =>
      limit(async () => {
        try {
          await deps.compute.deleteMachine(o.zone, o.name);
          summary.orphansDeleted++;
          log.warn('orphan deleted', { instance: o.name, zone: o.zone });
        } catch (err) {
          log.warn('orphan delete failed; next pass retries', { instance: o.name, zone: o.zone }, err);
        }
      }),
    ),
  );
}

type CreateResult = 'ok' | 'stockout' | 'quota' | 'failed' | 'unknown';

async function applyCreates(
  deps: ReconcileDeps,
  pool: Pool,
  plan: ReconcilePlan,
  runtime: PoolRuntime,
  now: number,
  summary: PassSummary,
  log: Logger,
  boots: { ready: number; bootFailures: number },
): Promise<PoolRuntime> {
  const spec = pool.spec;
  const coldZones = Object.fromEntries(Object.entries(runtime.coldZones).filter(([, until]) => until > now));
  const quotaStopped = new Set<string>();
  const limit = pLimit(deps.settings.createConcurrency);
  let failed = 0;

  if (spec.perMachineSshKeys && !deps.settings.sshKeyPassphrase && plan.creates.length > 0) {
    log.error('pool issues per-machine keys but no passphrase is configured (WARMER_SSH_KEY_PASSPHRASE); creating nothing');
    return { ...runtime, coldZones, breaker: recordCreateResults(runtime.breaker, { succeeded: boots.ready, failed: boots.bootFailures }, deps.clock.now()) };
  }

  const createOne = async (zone: string, existing?: InstanceRecord): Promise<CreateResult> => {
    const region = regionOfZone(zone);
    if (quotaStopped.has(region)) return 'quota';
    let record = existing;
    let extraSshKeys: string[] = [];
    if (!record) {
      const requestId = newRequestId();
      const name = instanceName(pool.name, requestId);
      let key: Awaited<ReturnType<typeof issueMachineKey>> | null = null;
      if (spec.perMachineSshKeys) {
        key = await issueMachineKey({ user: spec.perMachineSshUser, machine: name, passphrase: deps.settings.sshKeyPassphrase! });
        extraSshKeys = [key.sshKeysEntry];
      }
      record = newInstanceRecord({
        name,
        pool: pool.name,
        zone,
        requestId,
        now,
        sshPrivateKeyEncrypted: key?.privateKeyEncrypted ?? null,
        sshPublicKeyEntry: key?.sshKeysEntry ?? null,
      });
      // The record is written BEFORE the machine: a crash now leaves a `creating` record
      // that the next pass resolves, never an unknown machine.
      await deps.instances.create(record);
    } else if (existing?.sshPublicKeyEntry) {
      extraSshKeys = [existing.sshPublicKeyEntry];
    }
    try {
      const machine = await deps.compute.createMachine({ pool: pool.name, spec, name: record.name, zone: record.zone, requestId: record.requestId, extraSshKeys });
      await deps.instances.transition(record.name, ['creating'], 'booting', deps.clock.now(), { ip: machine.ip, publicIp: machine.publicIp });
      summary.created++;
      return 'ok';
    } catch (err) {
      const code = isWarmerError(err) ? err.code : 'unknown';
      if (code === 'zone_stockout' || code === 'quota_exceeded' || code === 'operation_failed' || code === 'permission_denied' || code === 'bad_request') {
        // A DONE operation with an error (or a refused request): no machine was made.
        await deps.instances.transition(record.name, ['creating'], 'deleted', deps.clock.now(), { reason: `create_failed:${code}` });
      }
      // Otherwise (transient, rate limited, unknown) the machine may exist: the record
      // stays `creating` and a later pass resolves it by name and requestId.
      summary.createFailed++;
      if (code === 'zone_stockout') {
        coldZones[record.zone] = deps.clock.now() + deps.settings.coldZoneMs;
        log.warn('zone stocked out; marked cold', { zone: record.zone, instance: record.name });
        return 'stockout';
      }
      if (code === 'quota_exceeded') {
        quotaStopped.add(region);
        log.error('quota exceeded; no more creations in this region this pass', { region, instance: record.name }, err);
        return 'quota';
      }
      log.error('create failed', { instance: record.name, zone: record.zone, code }, err);
      return code === 'operation_failed' || code === 'permission_denied' ? 'failed' : 'unknown';
    }
  };

  const otherZone = (tried: Set<string>): string | null => spec.zones.find((z) => !tried.has(z) && !(z in coldZones) && !quotaStopped.has(regionOfZone(z))) ?? null;

  await Promise.all([
    ...plan.retryCreates.map((r) =>
      limit(async () => {
        const existing = await deps.instances.get(r.name);
        if (existing?.state !== 'creating') return;
        const res = await createOne(existing.zone, existing);
        if (res === 'failed') failed++;
      }),
    ),
    ...plan.creates.map((c) =>
      limit(async () => {
        const tried = new Set<string>();
        let zone: string | null = c.zone in coldZones ? otherZone(tried) : c.zone;
        while (zone) {
          tried.add(zone);
          const res = await createOne(zone);
          if (res === 'ok') return;
          if (res === 'failed' || res === 'unknown') {
            if (res === 'failed') failed++;
            return;
          }
          // stock-out or regional quota: try another zone of the pool
          zone = otherZone(tried);
        }
      }),
    ),
  ]);

  // Inserts that succeeded are not yet proof the image works; reaching ready is.
  const breaker = recordCreateResults(runtime.breaker, { succeeded: boots.ready, failed: failed + boots.bootFailures }, deps.clock.now());
  if (breaker.openUntil !== null && (runtime.breaker.openUntil === null || breaker.openUntil > runtime.breaker.openUntil)) {
    log.error('creates keep failing; pool backs off', { consecutiveFailures: breaker.consecutiveFailures, until: new Date(breaker.openUntil).toISOString() });
  }
  return { ...runtime, coldZones, breaker };
}

/**
 * Claimed machines get their labels updated here, asynchronously, never on the claim path.
 * Best effort: a failure is retried on the next pass.
 */
async function syncClaimLabels(deps: ReconcileDeps, records: InstanceRecord[], machines: Awaited<ReturnType<Compute['listMachines']>>, log: Logger) {
  const byName = new Map(machines.map((m) => [m.name, m]));
  const limit = pLimit(8);
  await Promise.all(
    records
      .filter((r) => r.state === 'claimed')
      .map((r) =>
        limit(async () => {
          const m = byName.get(r.name);
          if (!m) return;
          const assignee = labelValue(r.claim?.assignee ?? '');
          const want: Record<string, string> = { warmth: 'claimed', ...(assignee ? { 'warmer-assignee': assignee } : {}) };
          if (Object.entries(want).every(([k, v]) => m.labels[k] === v)) return;
          try {
            await deps.compute.setLabels(m.zone, m.name, want);
          } catch (err) {
            if (!(err instanceof WarmerError && err.code === 'not_found')) log.warn('label update failed; next pass retries', { instance: r.name }, err);
          }
        }),
      ),
  );
}

/** A string made into a Compute Engine label value (lowercase, [a-z0-9_-], ≤ 63). */
export function labelValue(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '_')
    .slice(0, 63);
}

/**
 * After a pass that left machines booting, watch them for a while and make each ready on
 * its first good probe, so a refill completes in about one boot time instead of waiting
 * for the next scheduled pass. Only compare-and-set transitions booting → ready: safe to
 * run without the lease, next to any other pass. Returns how many became ready.
 */
export async function watchBooting(deps: ReconcileDeps, poolName: string, budgetMs: number, intervalMs: number, signal?: AbortSignal): Promise<number> {
  const pool = await deps.pools.getPool(poolName);
  if (!pool) return 0;
  const { healthCheck } = pool.spec;
  const deadline = deps.clock.now() + budgetMs;
  let made = 0;
  while (!signal?.aborted) {
    const booting = (await deps.instances.listByPool(poolName, ['booting'])).filter((r) => r.ip);
    if (booting.length === 0) break;
    const results = await deps.prober.probeMany(
      booting.map((r) => ({ address: r.ip!, port: healthCheck.port, expectSshBanner: healthCheck.expectSshBanner, timeoutMs: healthCheck.timeoutMs })),
      deps.settings.probeConcurrency,
    );
    const now = deps.clock.now();
    await Promise.all(
      booting.map(async (r, i) => {
        if (!results[i]!.ok) return;
        const next = await deps.instances.transition(r.name, ['booting'], 'ready', now, {
          health: { consecutiveFailures: 0, lastProbeAt: now, lastError: null },
        });
        if (next) {
          made++;
          await recordReady(deps, next, now);
        }
      }),
    );
    if (deps.clock.now() + intervalMs >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  if (made > 0) deps.logger.info('machines ready', { pool: poolName, count: made });
  return made;
}
