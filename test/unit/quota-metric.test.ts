import { describe, expect, it } from 'vitest';
import { cpuQuotaMetric, cpuQuotaMetricIn } from '../../shared/domain/quota-metric.js';

describe('cpuQuotaMetric: the regional CPU quota a machine type counts against', () => {
  it.each([
    ['n1-standard-1', 'CPUS'],
    ['f1-micro', 'CPUS'],
    ['g1-small', 'CPUS'],
    ['e2-micro', 'E2_CPUS'],
    ['e2-standard-4', 'E2_CPUS'],
    ['n2-standard-8', 'N2_CPUS'],
    ['n2d-highcpu-16', 'N2D_CPUS'],
    ['n4-standard-2', 'N4_CPUS'],
    ['c2-standard-4', 'C2_CPUS'],
    ['c2d-standard-2', 'C2D_CPUS'],
    ['c3-highcpu-8', 'C3_CPUS'],
    ['c3d-standard-4', 'C3D_CPUS'],
    ['c4-standard-2', 'C4_CPUS'],
    ['c4a-standard-4', 'C4A_CPUS'],
    ['t2d-standard-1', 'T2D_CPUS'],
    ['t2a-standard-1', 'T2A_CPUS'],
    ['m3-ultramem-32', 'M3_CPUS'],
    ['a2-highgpu-1g', 'A2_CPUS'],
    ['N2-STANDARD-2', 'N2_CPUS'],
    ['zones/us-central1-a/machineTypes/c3-highcpu-8', 'C3_CPUS'],
    ['https://compute.googleapis.com/compute/v1/projects/p/zones/europe-west1-b/machineTypes/n2-standard-2', 'N2_CPUS'],
    ['e2-custom-4-8192', 'E2_CPUS'],
    ['custom-2-4096', 'CPUS'], // N1 custom types have no family prefix
    ['x9-future-4', 'CPUS'],
  ])('%s → %s', (machineType, metric) => {
    expect(cpuQuotaMetric(machineType)).toBe(metric);
  });

  it.each([
    ['n2-standard-2', ['CPUS', 'N2_CPUS', 'INSTANCES'], 'N2_CPUS'],
    ['n2-standard-2', ['CPUS', 'INSTANCES'], 'CPUS'],
    ['n1-standard-2', ['CPUS', 'N2_CPUS'], 'CPUS'],
  ])('%s in a region listing %j reads %s', (machineType, listed, metric) => {
    expect(cpuQuotaMetricIn(machineType, listed)).toBe(metric);
  });
});
