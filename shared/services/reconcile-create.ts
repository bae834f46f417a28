/**
 * Creations in a reconcile pass, with zone fallback. The record is written before the
 * machine; what a failed create means (is the machine there? try another zone? does it
 * count against the breaker?) is read off the error-kind table in shared/errors.ts.
 */
import pLimit from 'p-limit';
import { kindOf, isWarmerError } from '../errors.js';
import { breakerPolicyFor, recordCreateResults } from '../domain/breaker.js';
import { newInstanceRecord, type InstanceRecord } from '../domain/instance.js';
import { instanceName } from '../domain/naming.js';
import type { PoolRuntime } from '../domain/pool-runtime.js';
import type { Pool } from '../domain/pool-spec.js';
import { regionOfZone } from '../domain/resource-path.js';
import type { ReconcilePlan } from '../domain/reconcile-plan.js';
import type { Logger } from '../logging.js';
import { issueMachineKey } from '../machine-keys.js';
import type { PassFence } from './pass-fence.js';
import type { PassSummary } from './pass-summary.js';
import type { ReconcileDeps } from './reconcile-deps.js';
import { newRequestId } from './request-id.js';

/**
 * ok: created. try_another_zone: this zone (stock-out) or region (quota) cannot serve it.
 * failed: gave up, and it counts against the breaker. gave_up: gave up, not counted.
 */
type CreateResult = 'ok' | 'try_another_zone' | 'failed' | 'gave_up';

export async function applyCreates(
  deps: ReconcileDeps,
  pool: Pool,
  plan: ReconcilePlan,
  runtime: PoolRuntime,
  now: number,
  summary: PassSummary,
  log: Logger,
  boots: { ready: number; bootFailures: number },
  fence?: PassFence,
): Promise<PoolRuntime> {
  const spec = pool.spec;
  const coldZones = Object.fromEntries(Object.entries(runtime.coldZones).filter(([, until]) => until > now));
  const quotaStopped = new Set<string>();
  const limit = pLimit(deps.settings.createConcurrency);
  let failed = 0;

  if (spec.perMachineSshKeys && !deps.settings.sshKeyPassphrase && plan.creates.length > 0) {
    log.error('pool issues per-machine keys but no passphrase is configured (WARMER_SSH_KEY_PASSPHRASE); creating nothing');
    return {
      ...runtime,
      coldZones,
      breaker: recordCreateResults(runtime.breaker, { succeeded: boots.ready, failed: boots.bootFailures }, deps.clock.now(), breakerPolicyFor(spec)),
    };
  }

  const createOne = async (zone: string, existing?: InstanceRecord): Promise<CreateResult> => {
    const region = regionOfZone(zone);
    if (quotaStopped.has(region)) return 'try_another_zone';
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
      // that the next pass resolves, never an unknown machine. It is written under the
      // fence: a pass whose lease was taken over creates nothing (maxSize holds).
      try {
        await deps.instances.create(record, fence?.fence());
      } catch (err) {
        if (!isWarmerError(err, 'precondition_failed')) throw err;
        log.warn('lease lost; not creating', { instance: record.name });
        return 'gave_up';
      }
    } else {
      if (fence && !(await fence.check())) return 'gave_up';
      if (existing?.sshPublicKeyEntry) extraSshKeys = [existing.sshPublicKeyEntry];
    }
    try {
      const machine = await deps.compute.createMachine({
        pool: pool.name,
        spec,
        name: record.name,
        zone: record.zone,
        requestId: record.requestId,
        extraSshKeys,
      });
      await deps.instances.transition(record.name, ['creating'], 'booting', deps.clock.now(), { ip: machine.ip, publicIp: machine.publicIp });
      summary.created++;
      return 'ok';
    } catch (err) {
      const kind = kindOf(err);
      const code = isWarmerError(err) ? err.code : 'unknown';
      if (!kind.machineMayExist) {
        // A DONE operation with an error (or a refused request): no machine was made.
        await deps.instances.transition(record.name, ['creating'], 'deleted', deps.clock.now(), { reason: `create_failed:${code}` });
      }
      // Otherwise (transient, rate limited, unknown) the machine may exist: the record
      // stays `creating` and a later pass resolves it by name and requestId.
      summary.createFailed++;
      if (kind.tryAnotherZone === 'zone') {
        coldZones[record.zone] = deps.clock.now() + deps.settings.coldZoneMs;
        log.warn('zone stocked out; marked cold', { zone: record.zone, instance: record.name });
        return 'try_another_zone';
      }
      if (kind.tryAnotherZone === 'region') {
        quotaStopped.add(region);
        log.error('quota exceeded; no more creations in this region this pass', { region, instance: record.name }, err);
        return 'try_another_zone';
      }
      log.error('create failed', { instance: record.name, zone: record.zone, code }, err);
      return kind.countsAgainstBreaker ? 'failed' : 'gave_up';
    }
  };

  const otherZone = (tried: Set<string>): string | null =>
    spec.zones.find((z) => !tried.has(z) && !(z in coldZones) && !quotaStopped.has(regionOfZone(z))) ?? null;

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
          if (res === 'failed' || res === 'gave_up') {
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
  // `started`: in half-open, the insert that succeeded is the one probe.
  const breaker = recordCreateResults(
    runtime.breaker,
    { succeeded: boots.ready, failed: failed + boots.bootFailures, started: summary.created },
    deps.clock.now(),
    breakerPolicyFor(spec),
  );
  if (breaker.openUntil !== null && (runtime.breaker.openUntil === null || breaker.openUntil > runtime.breaker.openUntil)) {
    log.error('creates keep failing; pool backs off', {
      consecutiveFailures: breaker.consecutiveFailures,
      opens: breaker.opens ?? 1,
      until: new Date(breaker.openUntil).toISOString(),
    });
  }
  if (runtime.breaker.openUntil !== null && breaker.openUntil === null) log.notice('pool breaker closed: a machine reached ready');

  return { ...runtime, coldZones, breaker };
}
