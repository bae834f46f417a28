import { afterAll, beforeAll } from 'vitest';
import { GceCompute } from '../../../shared/adapters/gce-compute.js';
import { startComputeEmulator, type ComputeEmulator } from '../../../local/compute/emulator.js';
import { FakeCompute } from '../../support/fake-compute.js';
import { computeContract } from './contract.js';
import { PROJECT } from './helpers.js';

computeContract('FakeCompute', async () => {
  const compute = new FakeCompute();
  return {
    compute,
    stockout: async (zone) => void compute.stockedOut.add(zone),
    limitInstances: async (region, limit) => void (compute.quota[region] = { instances: limit }),
  };
});

let emulator: ComputeEmulator;
let compute: GceCompute;
beforeAll(async () => {
  emulator = await startComputeEmulator({ addressBase: '127.24.0.1', bootDelayMs: 50, bootJitterMs: 0, operationDelayMs: 10 });
  compute = new GceCompute({ project: PROJECT, endpoint: emulator.endpoint });
});
afterAll(async () => {
  await compute?.close();
  await emulator?.stop();
});

computeContract('GceCompute over the local Compute Engine', async () => ({
  compute,
  stockout: (zone) => emulator.control.setStockout(zone, true),
  limitInstances: (region, limit) => emulator.control.setQuota(region, { INSTANCES: limit }),
}));
