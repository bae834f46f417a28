import { describe, expect, it } from 'vitest';
import { CLOSED_BREAKER, type BreakerState } from '../../shared/domain/breaker.js';
import { newInstanceRecord, type ClaimInfo, type HealthInfo, type InstanceRecord, type InstanceState } from '../../shared/domain/instance.js';
import { instanceName } from '../../shared/domain/naming.js';
import { parsePoolSpec, type PoolSpec, type PoolSpecInput } from '../../shared/domain/pool-spec.js';
import { DEFAULT_RECONCILE_SETTINGS, planReconcile, type ReconcileInput, type ReconcilePlan } from '../../shared/domain/reconcile-plan.js';
import type { Machine, MachineStatus, QuotaHeadroom } from '../../shared/domain/machine.js';
import type { ProbeResult } from '../../shared/domain/probe.js';

// ───────────────────────────── fake clock and builders ─────────────────────────────

const NOW = 1_800_000_000_000;
const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const POOL = 'ci';
const A = 'us-central1-a';
const B = 'us-central1-b';
const C = 'us-central1-c';

function spec(overrides: Partial<PoolSpecInput> = {}): PoolSpec {
  const r = parsePoolSpec({
    image: 'projects/debian-cloud/global/images/family/debian-12',
    machineType: 'e2-standard-2',
    zones: [A],
    targetReady: 3,
    maxSize: 10,
    ...overrides,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.spec;
}

interface RecOpts {
  zone?: string;
  /** How long ago the record entered its current state. */
  inStateFor?: number;
  /** How long ago the record was created (defaults to inStateFor + 1 min). */
  age?: number;
  failures?: number;
  claim?: Partial<ClaimInfo>;
  ip?: string | null;
  /** No stateChangedAt entry for the current state. */
  noStateTime?: boolean;
}

let seq = 0;
function rec(name: string, state: InstanceState, o: RecOpts = {}): InstanceRecord {
  const inStateFor = o.inStateFor ?? MIN;
  const createdAt = NOW - (o.age ?? inStateFor + MIN);
  const base = newInstanceRecord({ name, pool: POOL, zone: o.zone ?? A, requestId: `req-${name}-${seq++}`, now: createdAt });
  const health: HealthInfo = { consecutiveFailures: o.failures ?? 0, lastProbeAt: null, lastError: null };
  const claim: ClaimInfo | null =
    state === 'claimed' || o.claim
      ? { principal: 'ada', requestId: 'claim-1', assignee: 'ada', labels: {}, claimedAt: NOW - inStateFor, expiresAt: null, ...o.claim }
      : null;
  return {
    ...base,
    state,
    ip: o.ip === undefined ? (state === 'creating' ? null : '10.0.0.2') : o.ip,
    stateChangedAt: o.noStateTime ? { creating: createdAt } : { creating: createdAt, [state]: NOW - inStateFor },
    updatedAt: NOW - inStateFor,
    health,
    claim,
  };
}

function machine(name: string, o: { zone?: string; status?: MachineStatus; age?: number | null; ip?: string } = {}): Machine {
  return {
    name,
    zone: o.zone ?? A,
    status: o.status ?? 'RUNNING',
    ip: o.ip ?? '10.0.0.2',
    publicIp: null,
    labels: { 'warmer-pool': POOL },
    labelFingerprint: 'fp',
    createdAt: o.age === null ? null : NOW - (o.age ?? H),
  };
}

/** Records, each with its machine (in the record's zone) unless it is `creating`. */
function withMachines(records: InstanceRecord[]): { records: InstanceRecord[]; machines: Machine[] } {
  return { records, machines: records.filter((r) => r.state !== 'creating').map((r) => machine(r.name, { zone: r.zone })) };
}

function many(n: number, state: InstanceState, prefix: string, o: RecOpts = {}): InstanceRecord[] {
  return Array.from({ length: n }, (_, i) => rec(`${prefix}${i}`, state, o));
}

const UNLIMITED: QuotaHeadroom = { region: 'us-central1', cpus: Infinity, instances: Infinity, inUseAddresses: Infinity };
const OK: ProbeResult = { ok: true, durationMs: 10, banner: 'SSH-2.0-OpenSSH_9.6' };
const FAIL: ProbeResult = { ok: false, durationMs: 2000, reason: 'timed_out', detail: 'no answer in 2000 ms' };

function input(o: Partial<ReconcileInput> = {}): ReconcileInput {
  return {
    pool: POOL,
    spec: spec(),
    now: NOW,
    records: [],
    machines: [],
    probes: new Map(),
    quota: UNLIMITED,
    coldZones: {},
    breaker: CLOSED_BREAKER,
    settings: DEFAULT_RECONCILE_SETTINGS,
    ...o,
  };
}

/** Every plan must name each record or machine in at most one list. */
function plan(i: ReconcileInput): ReconcilePlan {
  const p = planReconcile(i);
  const names = [
    ...p.transitions.map((t) => t.name),
    ...p.healthUpdates.map((t) => t.name),
    ...p.teardowns.map((t) => t.name),
    ...p.republish.map((t) => t.name),
    ...p.orphans.map((t) => t.name),
    ...p.closeRecords.map((t) => t.name),
    ...p.retryCreates.map((t) => t.name),
  ];
  expect(new Set(names).size, `a name appears in two lists: ${names.join(', ')}`).toBe(names.length);
  expect(p.teardowns.some((t) => t.from === 'claimed' && t.reason !== 'claim_expired')).toBe(false);
  expect(planReconcile(i)).toEqual(p); // deterministic
  return p;
}

const zones = (p: ReconcilePlan) => p.creates.map((c) => c.zone);
const teardownsOf = (p: ReconcilePlan) => Object.fromEntries(p.teardowns.map((t) => [t.name, t.reason]));
const messages = (p: ReconcilePlan) => p.events.map((e) => `${e.severity} ${e.message}`);

// ───────────────────────────── how many to create ─────────────────────────────

describe('planReconcile: how many to create', () => {
  it.each<[string, Partial<PoolSpecInput>, InstanceRecord[], Machine[], number]>([
    ['fills an empty pool to target', { targetReady: 3 }, [], [], 3],
    ['counts ready', { targetReady: 3 }, many(2, 'ready', 'r'), [], 1],
    ['counts booting (no over-creation while machines boot)', { targetReady: 3 }, many(3, 'booting', 'b'), [], 0],
    ['counts creating (inserts on their way)', { targetReady: 3 }, many(2, 'creating', 'c'), [], 1],
    ['does not count claimed toward target', { targetReady: 3 }, many(2, 'claimed', 'x'), [], 3],
    [
      'does not count unhealthy, failed or deleting toward target',
      { targetReady: 3 },
      [rec('u', 'unhealthy'), rec('f', 'failed'), rec('d', 'deleting')],
      [],
      3,
    ],
    ['maxSize counts claimed: maxSize 10, 8 claimed, target 5 → 2', { targetReady: 5, maxSize: 10 }, many(8, 'claimed', 'x'), [], 2],
    [
      'maxSize counts claimed, deleting, failed and unrecorded machines',
      { targetReady: 5, maxSize: 10 },
      [...many(5, 'claimed', 'x'), rec('d', 'deleting'), rec('f', 'failed')],
      [machine('stray-young', { age: MIN }), machine('stray-old', { age: 2 * H })],
      1,
    ],
    ['maxSize reached: nothing', { targetReady: 5, maxSize: 5 }, many(5, 'claimed', 'x'), [], 0],
    ['throttle caps one pass', { targetReady: 50, maxSize: 100, createThrottle: 4 }, [], [], 4],
    ['target 0: nothing', { targetReady: 0 }, [], [], 0],
  ])('%s', (_name, specInput, records, extraMachines, expected) => {
    const w = withMachines(records);
    const p = plan(input({ spec: spec(specInput), records: w.records, machines: [...w.machines, ...extraMachines] }));
    expect(p.creates).toHaveLength(expected);
  });

  it("planning twice, with the first pass's creates now recorded as creating, creates nothing more", () => {
    const s = spec({ targetReady: 4, zones: [A, B] });
    const first = plan(input({ spec: s }));
    expect(first.creates).toHaveLength(4);
    // The service writes a creating record per create before inserting; the next pass
    // (a minute later, inserts maybe not even listed yet) must see them as on their way.
    const records = first.creates.map((c, i) => {
      const r = newInstanceRecord({
        name: instanceName(POOL, `0000000${i}-aaaa-4aaa-8aaa-aaaaaaaaaaaa`),
        pool: POOL,
        zone: c.zone,
        requestId: `r${i}`,
        now: NOW,
      });
      return r;
    });
    const second = plan(input({ spec: s, now: NOW + MIN, records }));
    expect(second.creates).toEqual([]);
    expect(second.retryCreates).toEqual([]);
    expect(second.closeRecords).toEqual([]);
    // …and once the machines exist, the records move to booting and still nothing is created.
    const machines = records.map((r) => machine(r.name, { zone: r.zone, age: 30 * S, status: 'STAGING' }));
    const third = plan(input({ spec: s, now: NOW + 2 * MIN, records, machines }));
    expect(third.creates).toEqual([]);
    expect(third.transitions.map((t) => `${t.from}→${t.to}`)).toEqual(Array(4).fill('creating→booting'));
    expect(third.orphans).toEqual([]);
  });

  it('reports a binding maxSize', () => {
    const w = withMachines(many(8, 'claimed', 'x'));
    const p = plan(input({ spec: spec({ targetReady: 5, maxSize: 10 }), ...w }));
    expect(messages(p)).toContain('WARNING create capped by maxSize');
  });

  it('reports a binding throttle', () => {
    const p = plan(input({ spec: spec({ targetReady: 30, maxSize: 100, createThrottle: 5 }) }));
    expect(p.creates).toHaveLength(5);
    expect(messages(p)).toContain('INFO create capped by throttle');
  });
});

describe('planReconcile: quota', () => {
  it.each<[string, Partial<PoolSpecInput>, Partial<QuotaHeadroom>, number]>([
    ['cpus: 9 free vCPUs of e2-standard-4 → 2', { machineType: 'e2-standard-4' }, { cpus: 9 }, 2],
    ['cpus: cpusPerMachine overrides the type', { machineType: 'e2-standard-4', cpusPerMachine: 1 }, { cpus: 2 }, 2],
    ['instances: 1 free instance → 1', {}, { instances: 1 }, 1],
    ['no headroom at all → 0', {}, { cpus: 0 }, 0],
    ['negative headroom (over quota) → 0', {}, { instances: -3 }, 0],
    ['addresses count when the pool has public IPs', { publicIp: true }, { inUseAddresses: 1 }, 1],
    ['addresses do not count for private pools', { publicIp: false }, { inUseAddresses: 0 }, 3],
  ])('%s', (_name, specInput, quota, expected) => {
    const p = plan(input({ spec: spec({ targetReady: 3, ...specInput }), quota: { ...UNLIMITED, ...quota } }));
    expect(p.creates).toHaveLength(expected);
    if (expected < 3) expect(messages(p)).toContain('ERROR create capped by quota');
  });

  it('an unknown quota (the read failed) creates nothing and says so', () => {
    const p = plan(input({ quota: null }));
    expect(p.creates).toEqual([]);
    expect(messages(p)).toContain('WARNING quota unknown: creating nothing this pass');
  });
});

// ───────────────────────────── pool switches and breaker ─────────────────────────────

describe('planReconcile: disabled and paused pools', () => {
  it('a disabled pool creates nothing and drains everything except claimed machines', () => {
    const records = [
      rec('r', 'ready'),
      rec('b', 'booting'),
      rec('c', 'creating'),
      rec('u', 'unhealthy'),
      rec('f', 'failed'),
      rec('x', 'claimed'),
      rec('d', 'deleting'),
    ];
    const w = withMachines(records);
    const p = plan(input({ spec: spec({ enabled: false }), ...w }));
    expect(p.creates).toEqual([]);
    expect(teardownsOf(p)).toEqual({ r: 'pool_disabled', b: 'pool_disabled', c: 'pool_disabled', u: 'pool_disabled', f: 'pool_disabled' });
    expect(p.transitions).toEqual([]);
  });

  it('a paused pool creates nothing but still shrinks to target and tears down the broken', () => {
    const w = withMachines([...many(4, 'ready', 'r'), rec('u', 'unhealthy')]);
    const p = plan(input({ spec: spec({ paused: true, targetReady: 3 }), ...w }));
    expect(p.creates).toEqual([]);
    expect(Object.values(teardownsOf(p)).sort()).toEqual(['over_target', 'unhealthy']);
    const p2 = plan(input({ spec: spec({ paused: true, targetReady: 3 }) }));
    expect(p2.creates).toEqual([]);
    expect(messages(p2)).toContain('INFO pool paused: creating nothing');
  });
});

describe('planReconcile: circuit breaker', () => {
  it.each<[string, BreakerState, number, string | null]>([
    ['closed: full pass', CLOSED_BREAKER, 3, null],
    ['closed with failures below the threshold: full pass', { consecutiveFailures: 2, openUntil: null }, 3, null],
    ['open: nothing', { consecutiveFailures: 3, openUntil: NOW + 30 * S }, 0, 'WARNING pool breaker open'],
    ['half-open: one', { consecutiveFailures: 3, openUntil: NOW - S }, 1, 'INFO pool breaker half-open: one creation'],
    [
      'half-open with the probe out: none',
      { consecutiveFailures: 3, openUntil: NOW - S, probeUntil: NOW + MIN },
      0,
      'INFO pool breaker half-open: probe in flight',
    ],
  ])('%s', (_name, breaker, expected, event) => {
    const p = plan(input({ breaker }));
    expect(p.creates).toHaveLength(expected);
    if (event) expect(messages(p)).toContain(event);
  });
});

// ───────────────────────────── zones ─────────────────────────────

describe('planReconcile: zones', () => {
  it.each<[string, InstanceRecord[], Record<string, number>, number, string[]]>([
    ['spreads an empty pool round the zones in spec order', [], {}, 5, [A, B, C, A, B]],
    ['fills the emptiest zones first', [...many(2, 'ready', 'a', { zone: A }), rec('c0', 'claimed', { zone: C })], {}, 6, [B, B, C, A]],
    ['skips a cold zone', [...many(2, 'ready', 'a', { zone: A }), rec('c0', 'booting', { zone: C })], { [B]: NOW + 5 * MIN }, 6, [C, A, C]],
    ['uses a zone again once its cold period is over', [], { [B]: NOW - 1 }, 3, [A, B, C]],
    ['ignores deleting machines when spreading', many(3, 'deleting', 'd', { zone: A }), {}, 3, [A, B, C]],
  ])('%s', (_name, records, coldZones, target, expected) => {
    const w = withMachines(records);
    const p = plan(input({ spec: spec({ zones: [A, B, C], targetReady: target, maxSize: 20 }), coldZones, ...w }));
    expect(zones(p)).toEqual(expected);
  });

  it('creates nothing and warns when every zone is cold', () => {
    const p = plan(input({ spec: spec({ zones: [A, B] }), coldZones: { [A]: NOW + MIN, [B]: NOW + 10 * MIN } }));
    expect(p.creates).toEqual([]);
    expect(messages(p)).toContain('WARNING every zone is cold: creating nothing');
  });
});

// ───────────────────────────── probes and health ─────────────────────────────

describe('planReconcile: probes', () => {
  it('booting + good probe → ready, with the probe health', () => {
    const w = withMachines([rec('b', 'booting')]);
    const p = plan(input({ spec: spec({ targetReady: 1 }), ...w, probes: new Map<string, ProbeResult>([['b', OK]]) }));
    expect(p.transitions).toEqual([
      { name: 'b', from: 'booting', to: 'ready', reason: 'probe_ok', patch: { health: { consecutiveFailures: 0, lastProbeAt: NOW, lastError: null } } },
    ]);
    expect(p.creates).toEqual([]);
  });

  it('booting + failed probe within the boot timeout → stays booting, error recorded', () => {
    const w = withMachines([rec('b', 'booting', { inStateFor: MIN })]);
    const p = plan(input({ spec: spec({ targetReady: 1 }), ...w, probes: new Map<string, ProbeResult>([['b', FAIL]]) }));
    expect(p.transitions).toEqual([]);
    expect(p.teardowns).toEqual([]);
    expect(p.healthUpdates).toEqual([
      { name: 'b', state: 'booting', health: { consecutiveFailures: 0, lastProbeAt: NOW, lastError: 'timed_out: no answer in 2000 ms' } },
    ]);
  });

  it.each<[string, number, ProbeResult, string]>([
    ['ready with 2 failures + failure (N = 3) → unhealthy, replaced in the same pass', 2, FAIL, 'unhealthy'],
    ['ready with 0 failures + failure → failure counted', 0, FAIL, 'counted'],
    ['ready with 2 failures + good probe → failures reset', 2, OK, 'reset'],
    ['ready, healthy, good probe → nothing written', 0, OK, 'nothing'],
  ])('%s', (_name, failures, probe, outcome) => {
    const w = withMachines([rec('r', 'ready', { failures }), rec('r2', 'ready')]);
    const p = plan(input({ spec: spec({ targetReady: 2 }), ...w, probes: new Map<string, ProbeResult>([['r', probe]]) }));
    if (outcome === 'unhealthy') {
      expect(p.transitions).toMatchObject([{ name: 'r', from: 'ready', to: 'unhealthy', patch: { health: { consecutiveFailures: 3 } } }]);
      expect(p.creates).toHaveLength(1);
    } else {
      expect(p.transitions).toEqual([]);
      expect(p.creates).toEqual([]);
    }
    if (outcome === 'counted') expect(p.healthUpdates).toMatchObject([{ name: 'r', state: 'ready', health: { consecutiveFailures: 1 } }]);
    if (outcome === 'reset') expect(p.healthUpdates).toMatchObject([{ name: 'r', state: 'ready', health: { consecutiveFailures: 0, lastError: null } }]);
    if (outcome === 'nothing' || outcome === 'unhealthy') expect(p.healthUpdates).toEqual([]);
  });

  it('an unhealthy record is torn down, and so is a failed one', () => {
    const w = withMachines([rec('u', 'unhealthy'), rec('f', 'failed')]);
    expect(teardownsOf(plan(input(w)))).toEqual({ u: 'unhealthy', f: 'failed' });
  });

  it('a claimed machine failing probes is reported, never torn down', () => {
    const w = withMachines([rec('x', 'claimed', { failures: 2 })]);
    const p = plan(input({ spec: spec({ targetReady: 0 }), ...w, probes: new Map<string, ProbeResult>([['x', FAIL]]) }));
    expect(p.teardowns).toEqual([]);
    expect(p.transitions).toEqual([]);
    expect(p.healthUpdates).toMatchObject([{ name: 'x', state: 'claimed', health: { consecutiveFailures: 3 } }]);
    expect(p.events).toMatchObject([{ severity: 'WARNING', message: 'claimed machine failing probes', fields: { instance: 'x', assignee: 'ada' } }]);
  });
});

// ───────────────────────────── lifetimes ─────────────────────────────

describe('planReconcile: timeouts and lifetimes', () => {
  it.each<[string, InstanceRecord, Partial<PoolSpecInput>, Map<string, ProbeResult>, string | null]>([
    ['booting past the boot timeout → boot_timeout', rec('b', 'booting', { inStateFor: 11 * MIN }), {}, new Map(), 'boot_timeout'],
    [
      'booting past the boot timeout with failing probes → boot_timeout',
      rec('b', 'booting', { inStateFor: 11 * MIN }),
      {},
      new Map([['b', FAIL]]),
      'boot_timeout',
    ],
    ['booting within the boot timeout → kept', rec('b', 'booting', { inStateFor: 9 * MIN }), {}, new Map(), null],
    ['booting without a booting time counts from createdAt', rec('b', 'booting', { noStateTime: true, age: 11 * MIN }), {}, new Map(), 'boot_timeout'],
    ['booting late but answering now → ready, not torn down', rec('b', 'booting', { inStateFor: 11 * MIN }), {}, new Map([['b', OK]]), null],
    ['custom boot timeout', rec('b', 'booting', { inStateFor: 2 * MIN }), { bootTimeoutSeconds: 60 }, new Map(), 'boot_timeout'],
    ['ready past max idle age → max_idle_age', rec('r', 'ready', { inStateFor: 25 * H }), { maxIdleAgeSeconds: 24 * 3600 }, new Map(), 'max_idle_age'],
    ['ready within max idle age → kept', rec('r', 'ready', { inStateFor: 23 * H }), { maxIdleAgeSeconds: 24 * 3600 }, new Map(), null],
    ['ready with no max idle age → kept forever', rec('r', 'ready', { inStateFor: 400 * 24 * H }), {}, new Map(), null],
    ['claimed past its expiry → claim_expired', rec('x', 'claimed', { claim: { expiresAt: NOW - 1 } }), {}, new Map(), 'claim_expired'],
    ['claimed at exactly its expiry → claim_expired', rec('x', 'claimed', { claim: { expiresAt: NOW } }), {}, new Map(), 'claim_expired'],
    ['claimed before its expiry → kept', rec('x', 'claimed', { claim: { expiresAt: NOW + MIN } }), {}, new Map(), null],
    ['claimed with no expiry → kept for weeks', rec('x', 'claimed', { inStateFor: 60 * 24 * H, claim: { expiresAt: null } }), {}, new Map(), null],
  ])('%s', (_name, record, specInput, probes, reason) => {
    const w = withMachines([record]);
    const p = plan(input({ spec: spec({ targetReady: 1, ...specInput }), ...w, probes }));
    expect(teardownsOf(p)).toEqual(reason ? { [record.name]: reason } : {});
  });

  it('recycling a ready machine creates its replacement in the same pass', () => {
    const w = withMachines([rec('old', 'ready', { inStateFor: 25 * H }), rec('new', 'ready', { inStateFor: H })]);
    const p = plan(input({ spec: spec({ targetReady: 2, maxIdleAgeSeconds: 24 * 3600 }), ...w }));
    expect(teardownsOf(p)).toEqual({ old: 'max_idle_age' });
    expect(p.creates).toHaveLength(1);
  });

  it('a boot timeout is replaced in the same pass', () => {
    const w = withMachines([rec('b', 'booting', { inStateFor: 20 * MIN })]);
    const p = plan(input({ spec: spec({ targetReady: 1 }), ...w }));
    expect(teardownsOf(p)).toEqual({ b: 'boot_timeout' });
    expect(p.creates).toHaveLength(1);
  });

  it.each<[string, MachineStatus, InstanceState, string | null]>([
    ['a ready machine found TERMINATED', 'TERMINATED', 'ready', 'machine_stopped'],
    ['a ready machine found STOPPED', 'STOPPED', 'ready', 'machine_stopped'],
    ['a booting machine found SUSPENDED', 'SUSPENDED', 'booting', 'machine_stopped'],
    ['a claimed machine its owner stopped is left alone', 'STOPPED', 'claimed', null],
    ['a booting machine still STAGING is left alone', 'STAGING', 'booting', null],
  ])('%s', (_name, status, state, reason) => {
    const r = rec('m', state);
    const p = plan(input({ spec: spec({ targetReady: 1 }), records: [r], machines: [machine('m', { status })] }));
    expect(teardownsOf(p)).toEqual(reason ? { m: reason } : {});
    if (reason) expect(p.creates).toHaveLength(1);
  });
});

describe('planReconcile: shrinking to a lower target', () => {
  it('tears down the newest extra ready machines, never going below target', () => {
    const records = [1, 2, 3, 4, 5].map((h) => rec(`r${h}`, 'ready', { inStateFor: h * H })); // r1 is the newest
    const w = withMachines(records);
    const p = plan(input({ spec: spec({ targetReady: 2 }), ...w }));
    expect(teardownsOf(p)).toEqual({ r1: 'over_target', r2: 'over_target', r3: 'over_target' });
    expect(p.creates).toEqual([]);
  });

  it('counts machines already leaving: an unhealthy one is not also shrunk away', () => {
    const records = [rec('r1', 'ready', { inStateFor: H, failures: 2 }), rec('r2', 'ready', { inStateFor: 2 * H }), rec('r3', 'ready', { inStateFor: 3 * H })];
    const w = withMachines(records);
    const p = plan(input({ spec: spec({ targetReady: 2 }), ...w, probes: new Map<string, ProbeResult>([['r1', FAIL]]) }));
    expect(p.transitions).toMatchObject([{ name: 'r1', to: 'unhealthy' }]);
    expect(p.teardowns).toEqual([]);
    expect(p.creates).toEqual([]);
  });

  it('does not shrink when ready equals target, and booting machines are not shrunk', () => {
    const w = withMachines([...many(2, 'ready', 'r'), ...many(2, 'booting', 'b')]);
    const p = plan(input({ spec: spec({ targetReady: 2 }), ...w }));
    expect(p.teardowns).toEqual([]);
    expect(p.creates).toEqual([]);
  });

  it('a shrunk machine whose probe failed gets no separate health write', () => {
    const w = withMachines([rec('r1', 'ready', { inStateFor: H }), rec('r2', 'ready', { inStateFor: 2 * H })]);
    const p = plan(input({ spec: spec({ targetReady: 1 }), ...w, probes: new Map<string, ProbeResult>([['r1', FAIL]]) }));
    expect(teardownsOf(p)).toEqual({ r1: 'over_target' });
    expect(p.healthUpdates).toEqual([]);
  });
});

// ───────────────────────────── inventory drift ─────────────────────────────

describe('planReconcile: orphans', () => {
  it.each<[string, number | null, boolean]>([
    ['a labelled machine with no record, past the grace period → deleted', 11 * MIN, true],
    ['within the grace period → left alone (its record may be in flight)', 2 * MIN, false],
    ['with no creation time → left alone (conservative)', null, false],
  ])('%s', (_name, age, deleted) => {
    const p = plan(input({ spec: spec({ targetReady: 0 }), machines: [machine('stray', { age, zone: B })] }));
    expect(p.orphans).toEqual(deleted ? [{ name: 'stray', zone: B }] : []);
  });

  it('a machine whose record is already deleted is an orphan', () => {
    const p = plan(input({ spec: spec({ targetReady: 0 }), records: [], machines: [machine('ci-0123456789', { age: H })] }));
    expect(p.orphans).toEqual([{ name: 'ci-0123456789', zone: A }]);
  });

  it.each<[string, string[], string[], string[]]>([
    // [label, record names, listed machines, orphans]: the orphan check only builds its set when some listed machine lacks a record
    ['every listed machine recorded: no orphan', ['a', 'b'], ['a', 'b'], []],
    ['one of two listed machines recorded', ['a'], ['a', 'stray'], ['stray']],
    ['as many records as machines, one of them unlisted', ['a', 'gone'], ['a', 'stray'], ['stray']],
    ['a record name repeated does not cover a stray', ['a', 'a'], ['a', 'stray'], ['stray']],
  ])('%s', (_label, names, listed, orphans) => {
    const p = plan(
      input({ spec: spec({ targetReady: 0 }), records: names.map((n) => rec(n, 'claimed')), machines: listed.map((n) => machine(n, { age: H })) }),
    );
    expect(p.orphans.map((o) => o.name)).toEqual(orphans);
    expect(p.counts.unrecordedMachines).toBe(orphans.length);
  });

  it('orphans occupy capacity until they are gone', () => {
    const machines = Array.from({ length: 9 }, (_, i) => machine(`stray${i}`, { age: H }));
    const p = plan(input({ spec: spec({ targetReady: 3, maxSize: 10 }), machines }));
    expect(p.orphans).toHaveLength(9);
    expect(p.creates).toHaveLength(1);
  });
});

describe('planReconcile: records whose machine vanished', () => {
  it.each<InstanceState>(['booting', 'ready', 'claimed', 'unhealthy', 'failed', 'deleting'])('%s without a machine → closed', (state) => {
    const p = plan(input({ spec: spec({ targetReady: 0 }), records: [rec('gone', state)], machines: [] }));
    expect(p.closeRecords).toEqual([{ name: 'gone', from: state, reason: 'machine_gone' }]);
    expect(p.teardowns).toEqual([]);
  });

  it('a vanished claimed machine is also reported', () => {
    const p = plan(input({ records: [rec('gone', 'claimed')], machines: [] }));
    expect(messages(p)).toContain('WARNING claimed machine is gone');
  });

  it('vanished ready machines are replaced in the same pass', () => {
    const p = plan(input({ spec: spec({ targetReady: 2 }), records: many(2, 'ready', 'r'), machines: [] }));
    expect(p.closeRecords).toHaveLength(2);
    expect(p.creates).toHaveLength(2);
  });
});

describe('planReconcile: stuck creating records', () => {
  const s = spec({ targetReady: 1, bootTimeoutSeconds: 600 });

  it.each<[string, number, boolean, string]>([
    ['younger than creatingStuckMs, no machine → left alone (the insert may be in flight)', 2 * MIN, false, 'wait'],
    ['past creatingStuckMs, no machine → insert again with the same name', 6 * MIN, false, 'retry'],
    ['past the boot timeout, no machine → failed', 11 * MIN, false, 'fail'],
    ['the machine exists after all → booting, with its address', 2 * MIN, true, 'booting'],
    ['the machine exists after a long time → booting too', 30 * MIN, true, 'booting'],
  ])('%s', (_name, inStateFor, exists, outcome) => {
    const r = rec('c', 'creating', { inStateFor, zone: B });
    const p = plan(input({ spec: spec({ targetReady: 1, zones: [A, B] }), records: [r], machines: exists ? [machine('c', { zone: B, ip: '10.0.0.9' })] : [] }));
    // a record on its way counts toward target; a failed one is replaced at once
    expect(p.creates).toHaveLength(outcome === 'fail' ? 1 : 0);
    expect(p.retryCreates).toEqual(outcome === 'retry' ? [{ name: 'c', zone: B }] : []);
    expect(p.transitions).toEqual(
      outcome === 'fail'
        ? [{ name: 'c', from: 'creating', to: 'failed', reason: 'create_timeout', patch: { reason: 'create_timeout' } }]
        : outcome === 'booting'
          ? [{ name: 'c', from: 'creating', to: 'booting', reason: 'machine_exists', patch: { ip: '10.0.0.9' } }]
          : [],
    );
    expect(p.closeRecords).toEqual([]);
  });

  it('a failed create is replaced in the same pass', () => {
    const p = plan(input({ spec: s, records: [rec('c', 'creating', { inStateFor: 11 * MIN })] }));
    expect(p.transitions).toMatchObject([{ name: 'c', to: 'failed' }]);
    expect(p.creates).toHaveLength(1);
  });

  it.each<[string, Partial<ReconcileInput>, Partial<PoolSpecInput>, number]>([
    ['retries go first and share the throttle with new creates', {}, { targetReady: 5, createThrottle: 3 }, 2],
    ['the breaker, open, holds retries back', { breaker: { consecutiveFailures: 3, openUntil: NOW + MIN } }, { targetReady: 5 }, 0],
    ['half-open, the one try is the retry', { breaker: { consecutiveFailures: 3, openUntil: NOW - 1 } }, { targetReady: 5 }, 1],
    ['an unknown quota holds retries back', { quota: null }, { targetReady: 5 }, 0],
    ['a cold zone holds its retries back', { coldZones: { [A]: NOW + MIN } }, { targetReady: 5, zones: [A, B] }, 0],
    ['a paused pool does not retry', {}, { targetReady: 5, paused: true }, 0],
  ])('%s', (_name, extra, specInput, retries) => {
    const records = [rec('c2', 'creating', { inStateFor: 7 * MIN }), rec('c1', 'creating', { inStateFor: 8 * MIN })];
    const p = plan(input({ spec: spec(specInput), records, ...extra }));
    expect(p.retryCreates).toEqual(
      [
        { name: 'c1', zone: A },
        { name: 'c2', zone: A },
      ].slice(0, retries),
    );
    if (_name.startsWith('retries go first')) expect(p.creates).toHaveLength(1);
    if (_name.startsWith('half-open')) expect(p.creates).toEqual([]);
  });
});

describe('planReconcile: stuck deleting records', () => {
  it.each<[string, number, boolean]>([
    ['deleting past deletingStuckMs with the machine still there → teardown published again', 11 * MIN, true],
    ['deleting recently → left to the teardown in flight', 2 * MIN, false],
  ])('%s', (_name, inStateFor, republished) => {
    const w = withMachines([rec('d', 'deleting', { inStateFor })]);
    const p = plan(input({ spec: spec({ targetReady: 0 }), ...w }));
    expect(p.republish).toEqual(republished ? [{ name: 'd', reason: 'deleting_stuck' }] : []);
    expect(p.closeRecords).toEqual([]);
  });
});

describe('planReconcile: a busy pool in one pass', () => {
  it('does everything at once with each record in at most one list', () => {
    const records = [
      rec('ready-ok', 'ready', { zone: A }),
      rec('ready-bad', 'ready', { zone: A, failures: 2 }),
      rec('ready-old', 'ready', { zone: B, inStateFor: 30 * H }),
      rec('boot-late', 'booting', { zone: B, inStateFor: 20 * MIN }),
      rec('boot-up', 'booting', { zone: C }),
      rec('claim-old', 'claimed', { zone: C, claim: { expiresAt: NOW - H } }),
      rec('claim-gone', 'claimed', { zone: A }),
      rec('create-stuck', 'creating', { zone: C, inStateFor: 6 * MIN }),
      rec('del-stuck', 'deleting', { zone: A, inStateFor: H }),
    ];
    const machines = [
      ...records.filter((r) => !['claim-gone', 'create-stuck'].includes(r.name)).map((r) => machine(r.name, { zone: r.zone })),
      machine('stray', { zone: B, age: H }),
    ];
    const p = plan(
      input({
        spec: spec({ zones: [A, B, C], targetReady: 4, maxSize: 20, maxIdleAgeSeconds: 24 * 3600 }),
        records,
        machines,
        probes: new Map<string, ProbeResult>([
          ['ready-bad', FAIL],
          ['boot-up', OK],
          ['boot-late', FAIL],
        ]),
      }),
    );
    expect(teardownsOf(p)).toEqual({ 'ready-old': 'max_idle_age', 'boot-late': 'boot_timeout', 'claim-old': 'claim_expired' });
    expect(p.transitions.map((t) => `${t.name}:${t.to}`).sort()).toEqual(['boot-up:ready', 'ready-bad:unhealthy']);
    expect(p.closeRecords).toEqual([{ name: 'claim-gone', from: 'claimed', reason: 'machine_gone' }]);
    expect(p.retryCreates).toEqual([{ name: 'create-stuck', zone: C }]);
    expect(p.republish).toEqual([{ name: 'del-stuck', reason: 'deleting_stuck' }]);
    expect(p.orphans).toEqual([{ name: 'stray', zone: B }]);
    // warm after the plan: ready-ok, boot-up (now ready), create-stuck → want 1; B has the fewest serving
    expect(zones(p)).toEqual([B]);
    expect(p.counts).toMatchObject({ ready: 2, booting: 0, creating: 1, want: 1, occupied: 10, unrecordedMachines: 1 });
  });
});
