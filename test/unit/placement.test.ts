/**
 * Real placement on a sole-tenant node group (first fit per node, reserve held on one
 * node), the `fill` target, the pool spec's placement rules, the planned insert caps and
 * the insert's node affinity. Table-driven, no I/O.
 */
import { describe, expect, it } from 'vitest';
import { fillTarget, machinesThatFit, pendingInserts, type NodeCapacity, type Shape } from '../../shared/domain/placement.js';
import { parsePoolSpec, type PoolSpecInput } from '../../shared/domain/pool-spec.js';
import { CLOSED_BREAKER } from '../../shared/domain/breaker.js';
import { newInstanceRecord, type InstanceRecord, type InstanceState } from '../../shared/domain/instance.js';
import { DEFAULT_RECONCILE_SETTINGS, planReconcile } from '../../shared/domain/reconcile-plan.js';
import type { Machine } from '../../shared/domain/machine.js';
import { resolveFillTarget } from '../../shared/services/reconcile-placement.js';
import { instanceResource } from '../../shared/adapters/gce-resources.js';

const GB = 1024;
const node = (name: string, cpus: number, memGb: number, usedCpus = 0, usedGb = 0): NodeCapacity => ({
  name,
  cpus,
  memoryMb: memGb * GB,
  usedCpus,
  usedMemoryMb: usedGb * GB,
});
const E2_STANDARD_4: Shape = { cpus: 4, memoryMb: 16 * GB };

describe('machinesThatFit', () => {
  const cases: Array<[string, NodeCapacity[], Shape, Shape | null, number]> = [
    ['2 × (16 vCPUs, 64 GB), e2-standard-4', [node('n1', 16, 64), node('n2', 16, 64)], E2_STANDARD_4, null, 8],
    ['one 4-vCPU machine already on a node', [node('n1', 16, 64, 4, 16), node('n2', 16, 64)], E2_STANDARD_4, null, 7],
    ['3 free vCPUs on each of two nodes hold none (never total ÷ size)', [node('n1', 16, 64, 13, 0), node('n2', 16, 64, 13, 0)], E2_STANDARD_4, null, 0],
    ['memory binds before CPUs', [node('n1', 16, 32)], E2_STANDARD_4, null, 2],
    ['no nodes', [], E2_STANDARD_4, null, 0],
    ['a full node', [node('n1', 16, 64, 16, 64)], E2_STANDARD_4, null, 0],
    ['over-used node (usage above total) counts 0', [node('n1', 16, 64, 20, 80), node('n2', 16, 64)], E2_STANDARD_4, null, 4],
    ['reserve of one machine held on one node', [node('n1', 16, 64), node('n2', 16, 64)], E2_STANDARD_4, { cpus: 4, memoryMb: 16 * GB }, 7],
    ['reserve on the node with most room', [node('n1', 16, 64, 12, 48), node('n2', 16, 64)], E2_STANDARD_4, { cpus: 8, memoryMb: 8 * GB }, 3],
    ['reserve no node can hold: nothing more', [node('n1', 16, 64), node('n2', 16, 64)], E2_STANDARD_4, { cpus: 32, memoryMb: 0 }, 0],
    ['zero reserve is no reserve', [node('n1', 16, 64)], E2_STANDARD_4, { cpus: 0, memoryMb: 0 }, 4],
  ];
  it.each(cases)('%s', (_name, nodes, shape, reserve, want) => {
    expect(machinesThatFit(nodes, shape, reserve)).toBe(want);
  });
});

describe('fillTarget', () => {
  const placement = (fits: number) => ({ nodeGroup: 'g', fits, nodes: 2, shape: E2_STANDARD_4 });
  const cases: Array<[string, Parameters<typeof fillTarget>[0], number]> = [
    ['empty group of 8', { maxSize: 20, warm: 0, pending: 0, placement: placement(8) }, 8],
    ['what is there plus what fits', { maxSize: 20, warm: 5, pending: 0, placement: placement(3) }, 8],
    ['inserts not on a node yet are taken off what fits', { maxSize: 20, warm: 6, pending: 2, placement: placement(3) }, 7],
    ['maxSize still caps', { maxSize: 6, warm: 0, pending: 0, placement: placement(8) }, 6],
    ['unknown placement holds the pool', { maxSize: 20, warm: 4, pending: 0, placement: null }, 4],
    ['more pending than fits never goes below warm', { maxSize: 20, warm: 4, pending: 3, placement: placement(1) }, 4],
  ];
  it.each(cases)('%s', (_name, args, want) => {
    expect(fillTarget(args)).toBe(want);
  });
});

const NOW = 1_800_000_000_000;
const ZONE = 'us-central1-a';
const base: PoolSpecInput = {
  image: 'projects/debian-cloud/global/images/family/debian-12',
  machineType: 'e2-standard-4',
  zones: [ZONE],
  targetReady: 'fill',
  maxSize: 20,
  placement: { nodeGroup: 'dedicated' },
};
function fillSpec(overrides: Record<string, unknown> = {}) {
  const r = parsePoolSpec({ ...base, ...overrides });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.spec;
}

describe('pool spec placement rules', () => {
  const bad: Array<[string, Record<string, unknown>, string]> = [
    ['fill without a placement', { placement: null }, 'targetReady'],
    ['fill with demand sizing', { sizing: { mode: 'demand' } }, 'targetReady'],
    ['a placement with two zones', { zones: [ZONE, 'us-central1-b'] }, 'zones'],
    ['an unknown placement field', { placement: { nodeGroup: 'dedicated', size: 2 } }, 'placement'],
    ['an unknown reserve field', { placement: { nodeGroup: 'dedicated', reserve: { cpus: 1, memoryMb: 1, gpus: 1 } } }, 'placement.reserve'],
    ['a bad node group name', { placement: { nodeGroup: 'Dedicated_1' } }, 'placement.nodeGroup'],
    ['a negative reserve', { placement: { nodeGroup: 'dedicated', reserve: { cpus: -1, memoryMb: 0 } } }, 'placement.reserve.cpus'],
    ['a target that is neither a number nor fill', { targetReady: 'lots' }, 'targetReady'],
    ['public health check without a public address', { healthCheck: { address: 'public' } }, 'healthCheck.address'],
  ];
  it.each(bad)('refuses %s', (_name, overrides, path) => {
    const r = parsePoolSpec({ ...base, ...overrides });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.path)).toContain(path);
  });

  it('accepts fill with a placement and a reserve, and a fixed target on a placement', () => {
    expect(fillSpec({ placement: { nodeGroup: 'dedicated', reserve: { cpus: 4, memoryMb: 16384 } } }).placement).toEqual({
      nodeGroup: 'dedicated',
      reserve: { cpus: 4, memoryMb: 16384 },
    });
    expect(fillSpec({ targetReady: 3 }).targetReady).toBe(3);
    expect(fillSpec({ publicIp: true, healthCheck: { address: 'both' } }).healthCheck.address).toBe('both');
  });
});

let seq = 0;
function rec(state: InstanceState): InstanceRecord {
  const name = `dedicated-${seq++}`;
  return { ...newInstanceRecord({ name, pool: 'dedicated', zone: ZONE, requestId: `r-${name}`, now: NOW - 60_000 }), state, ip: '10.0.0.2' };
}
const machineOf = (r: InstanceRecord): Machine => ({
  name: r.name,
  zone: ZONE,
  status: 'RUNNING',
  ip: '10.0.0.2',
  publicIp: null,
  labels: { 'warmer-pool': 'dedicated' },
  labelFingerprint: 'f',
  createdAt: NOW - 60_000,
});

describe('planning a dedicated-node pool', () => {
  const plan = (records: InstanceRecord[], fits: number | null, spec = fillSpec()) => {
    const machines = records.filter((r) => r.state !== 'creating').map(machineOf);
    const placement = fits === null ? null : { nodeGroup: 'dedicated', fits, nodes: 2, shape: E2_STANDARD_4 };
    return planReconcile({
      pool: 'dedicated',
      spec: resolveFillTarget(spec, placement, records, machines),
      now: NOW,
      records,
      machines,
      probes: new Map(),
      quota: { region: 'us-central1', cpus: Infinity, instances: Infinity, inUseAddresses: Infinity },
      placement,
      coldZones: {},
      breaker: CLOSED_BREAKER,
      settings: DEFAULT_RECONCILE_SETTINGS,
    });
  };
  const cases: Array<[string, InstanceState[], number | null, number]> = [
    ['an empty group of 8 gets 8', [], 8, 8],
    ['5 ready and 3 more fit: 3', ['ready', 'ready', 'ready', 'ready', 'ready'], 3, 3],
    ['full: nothing, and no ready machine is torn down', ['ready', 'ready', 'ready', 'ready'], 0, 0],
    ['2 inserts in flight are not on a node yet: 1 of 3', ['creating', 'creating'], 3, 1],
    ['claimed machines take room on the nodes too', ['claimed', 'claimed'], 6, 6],
    ['placement unknown: nothing', [], null, 0],
  ];
  it.each(cases)('%s', (_name, states, fits, creates) => {
    const p = plan(states.map(rec), fits);
    expect(p.creates).toHaveLength(creates);
    expect(p.teardowns).toEqual([]);
  });

  it('a fixed target on a placement is capped by what fits', () => {
    const p = plan([], 2, fillSpec({ targetReady: 5 }));
    expect(p.creates).toHaveLength(2);
    expect(p.events.map((e) => e.message)).toContain('create capped by node group placement');
  });

  it('maxSize still caps fill', () => {
    expect(plan([], 8, fillSpec({ maxSize: 5 })).creates).toHaveLength(5);
  });

  it('counts pending inserts', () => {
    const records = [rec('creating'), rec('booting')];
    expect(pendingInserts(records, [machineOf(records[1]!)])).toBe(1);
  });
});

describe('the insert of a dedicated-node machine', () => {
  it('carries sole-tenant node affinity to the group', () => {
    const r = instanceResource({ pool: 'dedicated', spec: fillSpec(), name: 'dedicated-x', zone: ZONE, requestId: 'r' });
    expect(r.scheduling).toEqual({ nodeAffinities: [{ key: 'compute.googleapis.com/node-group-name', operator: 'IN', values: ['dedicated'] }] });
  });

  it('keeps maxRunDuration next to the affinity', () => {
    const r = instanceResource({ pool: 'dedicated', spec: fillSpec({ maxRunDurationSeconds: 3600 }), name: 'dedicated-x', zone: ZONE, requestId: 'r' });
    expect(r.scheduling).toEqual({
      maxRunDuration: { seconds: 3600 },
      instanceTerminationAction: 'DELETE',
      nodeAffinities: [{ key: 'compute.googleapis.com/node-group-name', operator: 'IN', values: ['dedicated'] }],
    });
  });

  it('a pool without placement has no affinity', () => {
    const r = instanceResource({ pool: 'p', spec: fillSpec({ placement: null, targetReady: 1 }), name: 'p-x', zone: ZONE, requestId: 'r' });
    expect(r.scheduling).toBeUndefined();
  });
});
