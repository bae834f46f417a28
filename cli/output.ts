/** How results look on a terminal: tables (cli-table3) and one-line summaries. */
import Table from 'cli-table3';
import type { InstanceView, PoolView, StatusView } from './client.js';
import type { FieldChange, PoolChange } from './plan.js';

type Counts = PoolView['counts'];

function table(head: string[]): Table.Table {
  return new Table({ head, style: { head: [], border: [] } });
}

/** A value in one short line: strings as is, the rest as compact JSON, long ones cut. */
export function show(value: unknown, max = 60): string {
  const text = value === undefined ? '(unset)' : JSON.stringify(value);
  const one = text.replace(/\s+/g, ' ');
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

const lastSegment = (v: string) => v.replace(/\/+$/, '').split('/').pop() ?? v;
const orDash = (v: string | null | undefined) => (v === null || v === undefined || v === '' ? '-' : v);
const booting = (c: Counts) => c.creating + c.booting;
const unhealthy = (c: Counts) => c.unhealthy + c.failed;

export function poolsTable(pools: PoolView[]): string {
  if (pools.length === 0) return 'No pools. Create some with: warmer pools apply -f pools.yaml';
  const t = table(['pool', 'enabled', 'machine type', 'zones', 'target', 'max', 'ready', 'claimed', 'total']);
  for (const p of pools) {
    t.push([
      p.name,
      p.spec.enabled ? (p.spec.paused ? 'paused' : 'yes') : 'no',
      lastSegment(p.spec.machineType),
      p.spec.zones.join(', '),
      p.spec.targetReady,
      p.spec.maxSize,
      p.counts.ready,
      p.counts.claimed,
      p.total,
    ]);
  }
  return t.toString();
}

const pct = (x: number | null) => (x === null ? '-' : `${Math.round(x * 1000) / 10}%`);

/** The inputs that drove a sized pool's target, on one line. */
export function sizingWhy(s: NonNullable<PoolView['sizing']>): string {
  const w = s.why;
  const parts = [`bounded by ${w.boundedBy}`, `model ${w.unbounded}`];
  if (w.burstsPerHour !== null) parts.push(`${Math.round(w.burstsPerHour * 100) / 100} bursts/h now`);
  if (w.burstSizeP50 !== null) parts.push(`burst size p50 ${w.burstSizeP50}, p90 ${w.burstSizeP90}, max ${w.burstSizeMax}`);
  if (w.aimedHitRate !== null) parts.push(`aim ${pct(w.aimedHitRate)}, predicted ${pct(w.predictedHitRate)}, observed ${pct(w.observedHitRate)}`);
  parts.push(
    w.basis === 'recent' ? 'from recent bursts (no finished hour of history yet)' : `${Math.round(w.historyHours)} h of history`,
    `boot ${Math.round(s.leadMs / 1000)} s`,
  );
  if (w.scheduleFloor > 0) parts.push(`schedule floor ${w.scheduleFloor}`);
  parts.push(`minReady ${w.minReady}, maxReady ${w.maxReady}`);
  return parts.join('; ');
}

export function poolDetail(p: PoolView): string {
  const t = table(['field', 'value']);
  t.push(['name', p.name]);
  for (const [k, v] of Object.entries(p.spec)) t.push([`spec.${k}`, typeof v === 'string' ? v : JSON.stringify(v)]);
  t.push(['createdAt', orDash(p.createdAt)], ['updatedAt', orDash(p.updatedAt)]);
  const counts = Object.entries(p.counts)
    .filter(([s]) => s !== 'deleted')
    .map(([s, n]) => `${s} ${n}`)
    .join(', ');
  t.push(['machines', `${p.total} live: ${counts}`]);
  if (p.sizing) t.push(['target', `${p.sizing.target} ready (${p.sizing.mode} sizing, computed ${orDash(p.sizing.computedAt)})`], ['why', sizingWhy(p.sizing)]);
  return t.toString();
}

export function statusTable(st: StatusView): string {
  const t = table(['pool', 'enabled', 'target', 'max', 'booting', 'ready', 'claimed', 'unhealthy', 'deleting']);
  for (const p of st.perPool) {
    t.push([
      p.name,
      p.enabled ? 'yes' : 'no',
      p.targetReady,
      p.maxSize,
      booting(p.counts),
      p.counts.ready,
      p.counts.claimed,
      unhealthy(p.counts),
      p.counts.deleting,
    ]);
  }
  const c = st.counts;
  t.push([
    '(all)',
    `${st.enabledPools}/${st.pools}`,
    st.perPool.reduce((s, p) => s + (typeof p.targetReady === 'number' ? p.targetReady : 0), 0),
    st.perPool.reduce((s, p) => s + p.maxSize, 0),
    booting(c),
    c.ready,
    c.claimed,
    unhealthy(c),
    c.deleting,
  ]);
  return `${t.toString()}\nbooting counts creating + booting; unhealthy counts unhealthy + failed.`;
}

export function instancesTable(instances: InstanceView[]): string {
  const t = table(['name', 'pool', 'zone', 'state', 'ip', 'public ip', 'assignee', 'expires']);
  for (const i of instances) t.push([i.name, i.pool, i.zone, i.state, orDash(i.ip), orDash(i.publicIp), orDash(i.assignee), i.expiresAt ?? 'never']);
  return t.toString();
}

/** Age as a short duration: 45s, 12m, 5h, 3d. */
export function age(fromMs: number, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - fromMs) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

export function assignmentsTable(instances: InstanceView[], nowMs: number): string {
  const t = table(['machine', 'pool', 'assignee', 'since', 'expires', 'address', 'access']);
  for (const i of instances) {
    const since = i.claimedAt ? `${i.claimedAt} (${age(Date.parse(i.claimedAt), nowMs)})` : '-';
    t.push([i.name, i.pool, orDash(i.assignee), since, i.expiresAt ?? 'never', orDash(i.publicIp ?? i.ip), i.access?.state ?? '-']);
  }
  return t.toString();
}

export function instanceDetail(i: InstanceView): string {
  const t = table(['field', 'value']);
  for (const [k, v] of Object.entries(i)) {
    if (k === 'sshPrivateKey') continue;
    t.push([k, v === null ? '-' : typeof v === 'string' ? v : JSON.stringify(v)]);
  }
  return t.toString();
}

const SYMBOL: Record<PoolChange['action'], string> = { create: '+', update: '~', unchanged: '=', disable: '-', ignore: '?' };

function fieldLine(f: FieldChange): string {
  return `      ${f.field}: ${show(f.from)} → ${show(f.to)}`;
}

export function planText(changes: PoolChange[]): string {
  const lines: string[] = [];
  for (const c of changes) {
    const head = `  ${SYMBOL[c.action]} ${c.pool}`;
    switch (c.action) {
      case 'create':
        lines.push(`${head}: create`);
        break;
      case 'update':
        lines.push(`${head}: update ${c.fields.length} field${c.fields.length === 1 ? '' : 's'}`, ...c.fields.map(fieldLine));
        break;
      case 'unchanged':
        lines.push(`${head}: unchanged${c.note ? ` (${c.note})` : ''}`);
        break;
      case 'disable':
        lines.push(`${head}: disable (not in the file; --prune)`);
        break;
      case 'ignore':
        lines.push(`${head}: not in the file; left alone (--prune would disable it)`);
        break;
    }
  }
  return lines.join('\n');
}
