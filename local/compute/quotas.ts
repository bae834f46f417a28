/** Regional quotas: limits a test sets, usage always computed from the live machines. */
import { apiNotFound } from './api-error.js';
import type { QuotaLimits, QuotaMetric } from './control.js';
import { API_BASE, REGION, cpusOfMachineType, regionOf, type Json, type ParsedInsert } from './instance-resource.js';
import type { OpError } from './operations.js';
import { cpuQuotaMetricIn } from '../../shared/domain/quota-metric.js';

export interface QuotaUser {
  zone: string;
  cpus: number;
  hasExternalIp: boolean;
  /** The machine type's name (e2-small, n2-standard-4): which CPU metric it counts against. */
  machineType: string;
}

const GENERAL = ['CPUS', 'INSTANCES', 'IN_USE_ADDRESSES'] as const;

export class Quotas {
  private quotas = new Map<string, Record<QuotaMetric, number | null>>();

  constructor(
    private readonly defaults: Record<QuotaMetric, number | null>,
    private readonly perRegion: Record<string, QuotaLimits>,
    private readonly users: () => Iterable<QuotaUser>,
  ) {
    this.reset();
  }

  reset(): void {
    this.quotas = new Map();
    for (const [region, limits] of Object.entries(this.perRegion)) {
      this.quotas.set(region, { ...this.defaults, ...limits } as Record<QuotaMetric, number | null>);
    }
  }

  set(region: string, limits: QuotaLimits): void {
    const current = this.limits(region);
    for (const [metric, limit] of Object.entries(limits) as Array<[QuotaMetric, number | null | undefined]>) {
      if (limit !== undefined) current[metric] = limit;
    }
    this.quotas.set(region, current);
  }

  limits(region: string): Record<QuotaMetric, number | null> {
    return { ...(this.quotas.get(region) ?? this.defaults) };
  }

  /** The metrics the region lists: the general ones, and every family metric with a limit. */
  private listed(region: string): QuotaMetric[] {
    const limits = this.limits(region);
    return [...GENERAL, ...(Object.keys(limits) as QuotaMetric[]).filter((m) => !(GENERAL as readonly string[]).includes(m) && limits[m] !== null)];
  }

  /** The CPU metric a machine type counts against in the region. */
  cpuMetric(region: string, machineType: string): QuotaMetric {
    return cpuQuotaMetricIn(machineType, this.listed(region)) as QuotaMetric;
  }

  usage(region: string): Record<QuotaMetric, number> {
    const usage: Record<QuotaMetric, number> = Object.fromEntries(this.listed(region).map((m) => [m, 0])) as Record<QuotaMetric, number>;
    for (const inst of this.users()) {
      if (regionOf(inst.zone) !== region) continue;
      usage.INSTANCES++;
      const cpu = this.cpuMetric(region, inst.machineType);
      usage[cpu] = (usage[cpu] ?? 0) + inst.cpus;
      if (inst.hasExternalIp) usage.IN_USE_ADDRESSES++;
    }
    return usage;
  }

  /** The QUOTA_EXCEEDED error this insert would end in, or null. */
  exceeded(zone: string, parsed: ParsedInsert): OpError | null {
    const region = regionOf(zone);
    const usage = this.usage(region);
    const limits = this.limits(region);
    const cpu = this.cpuMetric(region, parsed.machineType);
    const wanted: Partial<Record<QuotaMetric, number>> = {
      INSTANCES: 1,
      IN_USE_ADDRESSES: parsed.wantsExternalIp ? 1 : 0,
      [cpu]: cpusOfMachineType(parsed.machineType),
    };
    for (const metric of [cpu, 'INSTANCES', 'IN_USE_ADDRESSES'] as const) {
      const limit = limits[metric] ?? null;
      const want = wanted[metric] ?? 0;
      if (limit !== null && want > 0 && (usage[metric] ?? 0) + want > limit) {
        return {
          code: 'QUOTA_EXCEEDED',
          message: `Quota '${metric}' exceeded.  Limit: ${limit.toFixed(1)} in region ${region}.`,
          httpStatus: 403,
          httpMessage: 'FORBIDDEN',
          errorDetails: [
            {
              quotaInfo: {
                metricName: `compute.googleapis.com/${metric.toLowerCase()}`,
                limitName: `${metric}-per-project-region`,
                dimensions: { region },
                limit,
              },
            },
          ],
        };
      }
    }
    return null;
  }

  /** The `compute#region` resource with its quotas. */
  region(project: string, region: string): Json {
    if (!REGION.test(region)) throw apiNotFound(`projects/${project}/regions/${region}`);
    const usage = this.usage(region);
    const limits = this.limits(region);
    const quotas = (Object.keys(usage) as QuotaMetric[])
      .filter((m) => limits[m] !== null)
      .map((metric) => ({ metric, limit: limits[metric], usage: usage[metric] }));
    return {
      kind: 'compute#region',
      id: String(1000 + [...region].reduce((a, c) => a + c.charCodeAt(0), 0)),
      creationTimestamp: '1969-12-31T16:00:00.000-08:00',
      name: region,
      description: region,
      status: 'UP',
      zones: ['a', 'b', 'c', 'f'].map((s) => `${API_BASE}/projects/${project}/zones/${region}-${s}`),
      quotas,
      selfLink: `${API_BASE}/projects/${project}/regions/${region}`,
      supportsPzs: false,
    };
  }
}
