/**
 * Monitoring as code: the log-based metrics, alert policies and dashboard of a warmer
 * deployment, as the JSON files gcloud takes. The deploy writes them under
 * `.warmer/monitoring/` (writeMonitoringFiles) and converges each resource on them; each
 * carries a hash of its own definition so drift is one comparison.
 *
 *  - Log-based metrics (`gcloud logging metrics create|update NAME --config-from-file`):
 *    https://cloud.google.com/logging/docs/logs-based-metrics/counter-metrics and
 *    https://cloud.google.com/logging/docs/logs-based-metrics/distribution-metrics
 *  - Alert policies (`gcloud alpha monitoring policies create|update --policy-from-file`):
 *    https://cloud.google.com/monitoring/alerts/policies-in-json
 *  - Dashboards (`gcloud monitoring dashboards create --config-from-file`):
 *    https://cloud.google.com/monitoring/dashboards/api-dashboard
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resourceNames, type DeploySettings } from './settings.js';

export const MONITORING_DIR = '.warmer/monitoring';

export interface LogMetric {
  name: string;
  description: string;
  filter: string;
  metricDescriptor: { metricKind: 'DELTA'; valueType: 'INT64' | 'DISTRIBUTION'; unit?: string; labels: Array<{ key: string; valueType: 'STRING' }> };
  labelExtractors: Record<string, string>;
  valueExtractor?: string;
  bucketOptions?: { exponentialBuckets: { numFiniteBuckets: number; growthFactor: number; scale: number } };
}

export interface AlertPolicy {
  displayName: string;
  combiner: 'OR';
  conditions: Array<{ displayName: string; conditionThreshold: Record<string, unknown> }>;
  documentation: { content: string; mimeType: 'text/markdown' };
  notificationChannels: string[];
  userLabels: Record<string, string>;
  alertStrategy?: { autoClose: string };
}

export const hashOf = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);

export function logMetrics(s: DeploySettings): LogMetric[] {
  const n = resourceNames(s);
  const services = Object.values(n.functions)
    .map((f) => `"${f}"`)
    .join(' OR ');
  const base = `resource.type="cloud_run_revision" AND resource.labels.service_name=(${services})`;
  const perPool = { labels: [{ key: 'pool', valueType: 'STRING' as const }] };
  const poolExtractor = { pool: 'EXTRACT(jsonPayload.pool)' };
  const counter = (name: string, description: string, messages: string[]): LogMetric => ({
    name: `${s.prefix}-${name}`,
    description: `warmer: ${description}`,
    filter: `${base} AND jsonPayload.message=(${messages.map((m) => JSON.stringify(m)).join(' OR ')})`,
    metricDescriptor: { metricKind: 'DELTA', valueType: 'INT64', ...perPool },
    labelExtractors: poolExtractor,
  });
  return [
    counter('claims-warm', 'claims served from the warm pool', ['claim served']),
    counter('claims-missed', 'claims that found the pool empty', ['claim missed: pool empty']),
    counter('create-failed', 'instance creations that failed', ['create failed']),
    counter('breaker-opened', 'pools whose creates keep failing (breaker opened)', ['creates keep failing; pool backs off']),
    counter('quota-capped', 'creations stopped by regional quota', ['create capped by quota', 'quota exceeded; no more creations in this region this pass']),
    counter('orphans-deleted', 'labelled machines without a record, deleted', ['orphan deleted']),
    {
      // Boot time of each machine (ready − created), from the reconcile log line for it.
      name: `${s.prefix}-time-to-ready`,
      description: 'warmer: seconds from creation to ready, per machine',
      filter: `${base} AND jsonPayload.message="machine ready" AND jsonPayload.durationMs>=0`,
      metricDescriptor: { metricKind: 'DELTA', valueType: 'DISTRIBUTION', unit: 'ms', ...perPool },
      labelExtractors: poolExtractor,
      valueExtractor: 'EXTRACT(jsonPayload.durationMs)',
      bucketOptions: { exponentialBuckets: { numFiniteBuckets: 20, growthFactor: 1.5, scale: 1000 } },
    },
  ];
}

const userMetric = (name: string) => `metric.type="logging.googleapis.com/user/${name}" AND resource.type="cloud_run_revision"`;

export function alertPolicies(s: DeploySettings): AlertPolicy[] {
  const n = resourceNames(s);
  const m = (k: string) => `${s.prefix}-${k}`;
  const policy = (key: string, title: string, condition: string, threshold: Record<string, unknown>, doc: string): AlertPolicy => {
    const body = {
      displayName: `warmer (${s.prefix}): ${title}`,
      combiner: 'OR' as const,
      conditions: [{ displayName: condition, conditionThreshold: threshold }],
      documentation: { content: `${doc}\n\nRunbook: docs/operations.md, section 3.`, mimeType: 'text/markdown' as const },
      notificationChannels: s.notificationChannels,
      alertStrategy: { autoClose: '1800s' },
    };
    return { ...body, userLabels: { app: 'warmer', 'warmer-alert': key, 'warmer-config': hashOf(body) } };
  };
  // Log-based counters are sparse: a point only in minutes that had entries. Summing over a
  // window (ALIGN_SUM over alignmentPeriod) and alerting on that sum with a short duration
  // fires on "N in the last W minutes", not on "in every minute for W minutes".
  const sumOver = (metric: string, windowSeconds: number, above: number, groupByPool = true) => ({
    filter: userMetric(metric),
    comparison: 'COMPARISON_GT',
    thresholdValue: above,
    duration: '0s',
    trigger: { count: 1 },
    aggregations: [
      {
        alignmentPeriod: `${windowSeconds}s`,
        perSeriesAligner: 'ALIGN_SUM',
        crossSeriesReducer: 'REDUCE_SUM',
        groupByFields: groupByPool ? ['metric.label.pool'] : [],
      },
    ],
  });
  return [
    policy(
      'pool-empty',
      'claims missed (pool empty)',
      'more than 3 misses of a pool in 10 min',
      sumOver(m('claims-missed'), 600, 3),
      'Claims found no ready machine: clients boot their own. Check the pool target, the breaker, quota and stock-outs.',
    ),
    policy(
      'breaker',
      'a pool backs off (creates keep failing)',
      'breaker opened in the last 10 min',
      sumOver(m('breaker-opened'), 600, 0),
      'A pool stopped creating after repeated failures: bad image, network, service account or permissions. Fix the pool spec.',
    ),
    policy(
      'create-failed',
      'creations failing',
      'more than 5 failed creations in 15 min',
      sumOver(m('create-failed'), 900, 5),
      'Instance inserts fail (see the `create failed` entries and their `code`).',
    ),
    policy(
      'quota',
      'regional quota reached',
      'quota capped creations in the last 15 min',
      sumOver(m('quota-capped'), 900, 0),
      'Regional quota (CPUS or the family CPUs, INSTANCES, IN_USE_ADDRESSES) stops creations: raise it or lower targets.',
    ),
    policy(
      'dead-letter',
      'messages dead-lettered',
      'dead-letter backlog above 0 for 5 min',
      {
        filter: `resource.type="pubsub_subscription" AND resource.labels.subscription_id="${n.deadLetterSubscription}" AND metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages"`,
        comparison: 'COMPARISON_GT',
        thresholdValue: 0,
        duration: '300s',
        trigger: { count: 1 },
        aggregations: [{ alignmentPeriod: '60s', perSeriesAligner: 'ALIGN_MAX' }],
      },
      'Teardowns or refills failed every delivery attempt: a machine may be leaking money. Inspect the dead-letter subscription.',
    ),
  ];
}

export function dashboard(s: DeploySettings): Record<string, unknown> {
  const m = (k: string) => `${s.prefix}-${k}`;
  const chart = (title: string, metric: string, aligner: string, reducer = 'REDUCE_SUM') => ({
    title,
    xyChart: {
      dataSets: [
        {
          plotType: 'LINE',
          timeSeriesQuery: {
            timeSeriesFilter: {
              filter: userMetric(metric),
              aggregation: { alignmentPeriod: '60s', perSeriesAligner: aligner, crossSeriesReducer: reducer, groupByFields: ['metric.label.pool'] },
            },
          },
        },
      ],
    },
  });
  const body = {
    displayName: `warmer (${s.prefix})`,
    mosaicLayout: {
      columns: 12,
      tiles: [
        chart('Claims served warm (per pool, per minute)', m('claims-warm'), 'ALIGN_SUM'),
        chart('Claims missed (per pool, per minute)', m('claims-missed'), 'ALIGN_SUM'),
        chart('Time to ready, p50 (ms)', m('time-to-ready'), 'ALIGN_DELTA', 'REDUCE_PERCENTILE_50'),
        chart('Time to ready, p90 (ms)', m('time-to-ready'), 'ALIGN_DELTA', 'REDUCE_PERCENTILE_90'),
        chart('Failed creations', m('create-failed'), 'ALIGN_SUM'),
        chart('Breaker opened', m('breaker-opened'), 'ALIGN_SUM'),
        chart('Quota caps', m('quota-capped'), 'ALIGN_SUM'),
        chart('Orphans deleted', m('orphans-deleted'), 'ALIGN_SUM'),
      ].map((widget, i) => ({ xPos: (i % 2) * 6, yPos: Math.floor(i / 2) * 4, width: 6, height: 4, widget })),
    },
  };
  return { ...body, labels: { [`warmer-${hashOf(body)}`]: '' } };
}

export const dashboardLabel = (s: DeploySettings) => Object.keys(dashboard(s).labels as Record<string, string>)[0]!;

export interface MonitoringFiles {
  metrics: Array<{ name: string; path: string; config: LogMetric }>;
  policies: Array<{ key: string; path: string; policy: AlertPolicy }>;
  dashboard: { path: string; config: Record<string, unknown> };
}

export function monitoringFiles(s: DeploySettings): MonitoringFiles {
  return {
    metrics: logMetrics(s).map((config) => ({ name: config.name, path: `${MONITORING_DIR}/metric-${config.name}.json`, config })),
    policies: alertPolicies(s).map((policy) => ({
      key: policy.userLabels['warmer-alert']!,
      path: `${MONITORING_DIR}/alert-${policy.userLabels['warmer-alert']}.json`,
      policy,
    })),
    dashboard: { path: `${MONITORING_DIR}/dashboard.json`, config: dashboard(s) },
  };
}

/** Writes the files the monitoring commands read (relative to the repository root). */
export function writeMonitoringFiles(root: string, s: DeploySettings): void {
  const f = monitoringFiles(s);
  mkdirSync(join(root, MONITORING_DIR), { recursive: true });
  for (const m of f.metrics) writeFileSync(join(root, m.path), JSON.stringify(m.config, null, 2) + '\n');
  for (const p of f.policies) writeFileSync(join(root, p.path), JSON.stringify(p.policy, null, 2) + '\n');
  writeFileSync(join(root, f.dashboard.path), JSON.stringify(f.dashboard.config, null, 2) + '\n');
}
