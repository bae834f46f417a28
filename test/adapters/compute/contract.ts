/**
 * The Compute contract: what warmer relies on from Compute Engine, passed by the fake
 * used in unit tests (test/support/fake-compute.ts) and by GceCompute over the local
 * Compute Engine through the real client — so the fake cannot drift from the adapter.
 */
import { describe, expect, it } from 'vitest';
import type { Compute } from '../../../shared/ports.js';
import { spec } from '../../support/builders.js';

export interface ComputeUnderTest {
  compute: Compute;
  /** Makes inserts in the zone fail with a stock-out. */
  stockout(zone: string): Promise<void>;
  /** The region's INSTANCES quota. */
  limitInstances(region: string, limit: number): Promise<void>;
}

let seq = 0;
const uid = () => `${process.pid.toString(36)}${(++seq).toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const uuid = () => crypto.randomUUID();

export function computeContract(name: string, make: () => Promise<ComputeUnderTest>) {
  describe(`${name}: compute contract`, () => {
    it('creates a labelled machine with an address; the same requestId again makes no second machine', async () => {
      const { compute } = await make();
      const pool = `ct-${uid()}`;
      const req = { pool, spec: spec({ labels: { team: 'ci' } }), name: `${pool}-a`, zone: 'us-central1-a', requestId: uuid() };
      const m = await compute.createMachine(req);
      expect(m).toMatchObject({ name: req.name, zone: 'us-central1-a', publicIp: null });
      expect(m.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(m.labels).toMatchObject({ 'warmer-pool': pool, 'warmer-managed': 'true', warmth: 'warmed', team: 'ci' });
      const again = await compute.createMachine(req);
      expect(again.name).toBe(req.name);
      expect((await compute.listMachines({ 'warmer-pool': pool })).map((x) => x.name)).toEqual([req.name]);
    });

    it('a public-IP pool gets a public address', async () => {
      const { compute } = await make();
      const pool = `ct-${uid()}`;
      const m = await compute.createMachine({ pool, spec: spec({ publicIp: true }), name: `${pool}-p`, zone: 'us-central1-b', requestId: uuid() });
      expect(m.publicIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    });

    it('lists by labels across zones; get; delete; deleting again or a missing machine is done', async () => {
      const { compute } = await make();
      const pool = `ct-${uid()}`;
      await compute.createMachine({ pool, spec: spec(), name: `${pool}-a`, zone: 'us-central1-a', requestId: uuid() });
      await compute.createMachine({ pool, spec: spec(), name: `${pool}-b`, zone: 'europe-west4-b', requestId: uuid() });
      expect((await compute.listMachines({ 'warmer-pool': pool })).map((m) => m.name).sort()).toEqual([`${pool}-a`, `${pool}-b`]);
      expect((await compute.getMachine('europe-west4-b', `${pool}-b`))?.zone).toBe('europe-west4-b');
      expect(await compute.getMachine('us-central1-a', `${pool}-nope`)).toBeNull();
      await compute.deleteMachine('us-central1-a', `${pool}-a`, uuid());
      await compute.deleteMachine('us-central1-a', `${pool}-a`, uuid());
      await compute.deleteMachine('us-central1-a', `${pool}-never`, uuid());
      expect((await compute.listMachines({ 'warmer-pool': pool })).map((m) => m.name)).toEqual([`${pool}-b`]);
    });

    it('setLabels merges into the current labels', async () => {
      const { compute } = await make();
      const pool = `ct-${uid()}`;
      await compute.createMachine({ pool, spec: spec(), name: `${pool}-l`, zone: 'us-central1-a', requestId: uuid() });
      await compute.setLabels('us-central1-a', `${pool}-l`, { warmth: 'claimed', 'warmer-assignee': 'ada' });
      expect((await compute.getMachine('us-central1-a', `${pool}-l`))!.labels).toMatchObject({
        'warmer-pool': pool,
        warmth: 'claimed',
        'warmer-assignee': 'ada',
      });
      await expect(compute.setLabels('us-central1-a', `${pool}-gone`, { warmth: 'claimed' })).rejects.toMatchObject({ code: 'not_found' });
    });

    it('a stocked-out zone fails with zone_stockout and makes nothing', async () => {
      const t = await make();
      const pool = `ct-${uid()}`;
      await t.stockout('asia-east1-c');
      await expect(t.compute.createMachine({ pool, spec: spec(), name: `${pool}-s`, zone: 'asia-east1-c', requestId: uuid() })).rejects.toMatchObject({
        code: 'zone_stockout',
      });
      expect(await t.compute.listMachines({ 'warmer-pool': pool })).toEqual([]);
    });

    it('quota: headroom shrinks as machines are made, and an insert past it fails with quota_exceeded', async () => {
      const t = await make();
      const pool = `ct-${uid()}`;
      await t.limitInstances('southamerica-west1', 1);
      expect((await t.compute.quotaHeadroom('southamerica-west1')).instances).toBe(1);
      await t.compute.createMachine({ pool, spec: spec(), name: `${pool}-q1`, zone: 'southamerica-west1-a', requestId: uuid() });
      expect((await t.compute.quotaHeadroom('southamerica-west1')).instances).toBe(0);
      await expect(t.compute.createMachine({ pool, spec: spec(), name: `${pool}-q2`, zone: 'southamerica-west1-a', requestId: uuid() })).rejects.toMatchObject({
        code: 'quota_exceeded',
      });
    });
  });
}
