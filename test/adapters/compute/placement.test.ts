/**
 * Sole-tenant placement through the real @google-cloud/compute client against the local
 * Compute Engine: the adapter reads a node group's nodes, node types and the instances on
 * them; inserts with node affinity are placed first fit; one that does not fit is
 * `node_group_full` and makes no machine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWarmerError } from '../../../shared/errors.js';
import { spec } from '../../support/builders.js';
import { harness, type Harness } from './helpers.js';

const ZONE = 'us-central1-a';
let h: Harness;
let seq = 0;

beforeAll(async () => {
  h = await harness({ nodeGroups: [{ name: 'dedicated', zone: ZONE, nodes: 2, cpus: 16, memoryMb: 64 * 1024 }] });
});
afterAll(async () => h.stop());

const placed = () => spec({ machineType: 'e2-standard-4', zones: [ZONE], targetReady: 'fill', maxSize: 20, placement: { nodeGroup: 'dedicated' } });
const req = () => {
  const n = ++seq;
  return { pool: 'dedicated', spec: placed(), name: `dedicated-${n}`, zone: ZONE, requestId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}` };
};

describe('GceCompute placement', () => {
  it('reads the nodes, their node type and what the instances on them use', async () => {
    const empty = await h.compute.nodeGroupPlacement(ZONE, 'dedicated', 'e2-standard-4');
    expect(empty.shape).toEqual({ cpus: 4, memoryMb: 16384 });
    expect(empty.nodes).toEqual([
      { name: 'dedicated-node-01', cpus: 16, memoryMb: 65536, usedCpus: 0, usedMemoryMb: 0 },
      { name: 'dedicated-node-02', cpus: 16, memoryMb: 65536, usedCpus: 0, usedMemoryMb: 0 },
    ]);
    await h.compute.createMachine(req());
    const one = await h.compute.nodeGroupPlacement(ZONE, 'dedicated', 'e2-standard-4');
    expect(one.nodes.map((n) => [n.usedCpus, n.usedMemoryMb])).toEqual([
      [4, 16384],
      [0, 0],
    ]);
  });

  it('fills the nodes first fit and refuses the machine that does not fit as node_group_full', async () => {
    for (let i = 0; i < 7; i++) await h.compute.createMachine(req());
    const full = await h.compute.nodeGroupPlacement(ZONE, 'dedicated', 'e2-standard-4');
    expect(full.nodes.map((n) => n.usedCpus)).toEqual([16, 16]);
    const r = req();
    const err = await h.compute.createMachine(r).catch((e: unknown) => e);
    expect(isWarmerError(err, 'node_group_full')).toBe(true);
    expect(await h.compute.getMachine(ZONE, r.name)).toBeNull();
    expect((await h.emulator.control.stats()).placementRejections).toBe(1);
    // A deleted machine frees its room.
    await h.compute.deleteMachine(ZONE, 'dedicated-1');
    const freed = await h.compute.nodeGroupPlacement(ZONE, 'dedicated', 'e2-standard-4');
    expect(freed.nodes.map((n) => n.usedCpus)).toEqual([12, 16]);
  });

  it('an unknown node group is not_found', async () => {
    const err = await h.compute.nodeGroupPlacement(ZONE, 'nope', 'e2-standard-4').catch((e: unknown) => e);
    expect(isWarmerError(err, 'not_found')).toBe(true);
  });

  it('the insert carries the node affinity the emulator placed it by', async () => {
    const res = await fetch(`${h.emulator.url}/compute/v1/projects/warmer-test/zones/${ZONE}/instances/dedicated-2`);
    const body = (await res.json()) as { scheduling: { nodeAffinities: unknown } };
    expect(body.scheduling.nodeAffinities).toEqual([{ key: 'compute.googleapis.com/node-group-name', operator: 'IN', values: ['dedicated'] }]);
  });
});
