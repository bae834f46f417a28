/**
 * Which regional CPU quota a machine type counts against. Compute Engine keeps a
 * per-family CPU quota for most families (N2_CPUS, C3_CPUS, E2_CPUS, …); only N1 and the
 * shared-core f1/g1 types count against the general CPUS metric. Reading only CPUS
 * overstates headroom for, say, an n2 pool whose N2_CPUS quota is exhausted.
 *
 * Metric names: the `Quota.metric` enum of regions.get,
 *   https://cloud.google.com/compute/docs/reference/rest/v1/regions#Quota
 * and "CPU quota" per machine family,
 *   https://cloud.google.com/compute/resource-usage#cpu_quota
 *
 * Pure: no I/O. The metric may be missing from a region's quota list (a family not
 * offered there, or a family newer than this table): `cpuQuotaMetricIn` then falls back
 * to CPUS, which every region lists.
 */

/** Families with their own regional CPU quota metric, by machine-type prefix. */
const FAMILY_METRICS: Readonly<Record<string, string>> = {
  e2: 'E2_CPUS',
  n2: 'N2_CPUS',
  n2d: 'N2D_CPUS',
  n4: 'N4_CPUS',
  c2: 'C2_CPUS',
  c2d: 'C2D_CPUS',
  c3: 'C3_CPUS',
  c3d: 'C3D_CPUS',
  c4: 'C4_CPUS',
  c4a: 'C4A_CPUS',
  c4d: 'C4D_CPUS',
  t2d: 'T2D_CPUS',
  t2a: 'T2A_CPUS',
  m1: 'M1_CPUS',
  m2: 'M2_CPUS',
  m3: 'M3_CPUS',
  a2: 'A2_CPUS',
  a3: 'A3_CPUS',
  g2: 'G2_CPUS',
  h3: 'H3_CPUS',
  z3: 'Z3_CPUS',
};

export const GENERAL_CPU_METRIC = 'CPUS';

/**
 * The CPU quota metric of a machine type: `n2-standard-4` → N2_CPUS, `e2-micro` → E2_CPUS,
 * `n1-standard-1` / `f1-micro` / `g1-small` → CPUS; a zonal or full URL works too
 * (`zones/us-central1-a/machineTypes/c3-highcpu-8`). Unknown families → CPUS.
 */
export function cpuQuotaMetric(machineType: string): string {
  const name = machineType.slice(machineType.lastIndexOf('/') + 1).toLowerCase();
  const family = name.split('-')[0] ?? '';
  return FAMILY_METRICS[family] ?? GENERAL_CPU_METRIC;
}

/**
 * The metric to read from a region's quota list (regions.get `quotas[].metric`): the
 * family's own metric when the region lists it, else CPUS.
 */
export function cpuQuotaMetricIn(machineType: string, listed: readonly string[]): string {
  const m = cpuQuotaMetric(machineType);
  return listed.includes(m) ? m : GENERAL_CPU_METRIC;
}
