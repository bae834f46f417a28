/**
 * Region quota headroom over `@google-cloud/compute`. CPUs: the metric the machine type
 * counts against (N2_CPUS for n2-…, CPUS for n1/f1/g1 or when the region does not list
 * the family's): https://cloud.google.com/compute/resource-usage#cpu_quota and the
 * `Quota.metric` enum of https://cloud.google.com/compute/docs/reference/rest/v1/regions#Quota
 */
import compute from '@google-cloud/compute';
import type { protos } from '@google-cloud/compute';
import type { QuotaHeadroom } from '../domain/machine.js';
import { cpuQuotaMetricIn, GENERAL_CPU_METRIC } from '../domain/quota-metric.js';
import { toWarmerError } from './gce-errors.js';

type ClientOptions = ConstructorParameters<typeof compute.RegionsClient>[0];

export class GceQuotas {
  private readonly regions: InstanceType<typeof compute.RegionsClient>;

  constructor(
    private readonly project: string,
    clientOptions: ClientOptions,
    private readonly callOptions: { timeout: number },
  ) {
    this.regions = new compute.RegionsClient(clientOptions);
  }

  /** Headroom (limit − usage; Infinity when unlisted) of CPUs, instances and in-use addresses. */
  async headroom(region: string, machineType?: string): Promise<QuotaHeadroom> {
    let quotas: protos.google.cloud.compute.v1.IQuota[];
    try {
      const [r] = await this.regions.get({ project: this.project, region }, this.callOptions);
      quotas = r.quotas ?? [];
    } catch (err) {
      throw toWarmerError(err, `get region ${region}`);
    }
    const headroom = (metric: string) => {
      const q = quotas.find((x) => String(x.metric) === metric);
      if (!q || q.limit === null || q.limit === undefined) return Infinity;
      return Number(q.limit) - Number(q.usage ?? 0);
    };
    const cpuMetric =
      machineType === undefined
        ? GENERAL_CPU_METRIC
        : cpuQuotaMetricIn(
            machineType,
            quotas.map((q) => String(q.metric)),
          );
    return { region, cpus: headroom(cpuMetric), instances: headroom('INSTANCES'), inUseAddresses: headroom('IN_USE_ADDRESSES') };
  }

  async close(): Promise<void> {
    await this.regions.close();
  }
}
