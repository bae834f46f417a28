/**
 * Sole-tenant node groups in the local Compute Engine: groups of nodes of a node type
 * (vCPUs, memory), configured at start (local config / the stack's options) or through
 * control. An insert whose `scheduling.nodeAffinities` names a group with
 * `compute.googleapis.com/node-group-name IN [...]` is placed first-fit on a node with
 * room; one that does not fit ends in a failed operation, as a full sole-tenant group
 * does. Usage is always computed from the placed instances that still exist.
 */
import { apiNotFound } from './api-error.js';
import { API_BASE, type Json } from './instance-resource.js';
import type { OpError } from './operations.js';

export const NODE_GROUP_AFFINITY_KEY = 'compute.googleapis.com/node-group-name';

export interface NodeGroupConfig {
  name: string;
  zone: string;
  /** How many nodes the group has. */
  nodes: number;
  /** Each node's vCPUs and memory (its node type). */
  cpus: number;
  memoryMb: number;
  /** The node type's name; default `local-node-<cpus>-<memory GB>`. */
  nodeType?: string;
}

interface Placed {
  group: string;
  node: string;
  cpus: number;
  memoryMb: number;
  /** The instance's URL, as listNodes reports it. */
  url: string;
}

const groupKey = (zone: string, name: string) => `${zone}/${name}`;
const nodeTypeOf = (c: NodeGroupConfig) => c.nodeType ?? `local-node-${c.cpus}-${Math.round(c.memoryMb / 1024)}`;
const nodeNames = (c: NodeGroupConfig) => Array.from({ length: c.nodes }, (_, i) => `${c.name}-node-${String(i + 1).padStart(2, '0')}`);

/** The node group an insert asks for (`IN` affinity on the group-name key), or null. */
export function affinityGroup(scheduling: Json): string | null {
  const affinities = Array.isArray(scheduling.nodeAffinities) ? (scheduling.nodeAffinities as Json[]) : [];
  const a = affinities.find((x) => x.key === NODE_GROUP_AFFINITY_KEY && x.operator === 'IN' && Array.isArray(x.values) && x.values.length > 0);
  return a ? String((a.values as unknown[])[0]) : null;
}

export class NodeGroups {
  private readonly groups = new Map<string, NodeGroupConfig>();
  /** Instance key (zone/name) → where it runs. */
  private readonly placed = new Map<string, Placed>();
  /** Placements refused because no node had room (or the group does not exist). */
  rejected = 0;

  constructor(configs: readonly NodeGroupConfig[]) {
    for (const c of configs) this.set(c);
  }

  /** Adds or replaces a group (its nodes keep the instances placed on them, by name). */
  set(config: NodeGroupConfig): void {
    if (!Number.isInteger(config.nodes) || config.nodes < 0 || config.cpus <= 0 || config.memoryMb <= 0) {
      throw new Error(`bad node group ${config.zone}/${config.name}: nodes, cpus and memoryMb must be positive`);
    }
    this.groups.set(groupKey(config.zone, config.name), { ...config });
  }

  list(): NodeGroupConfig[] {
    return [...this.groups.values()].map((c) => ({ ...c }));
  }

  /**
   * Places an instance on the first node (by name) with room; the failed operation's
   * error when none has room or the group does not exist.
   */
  place(key: string, zone: string, group: string, shape: { cpus: number; memoryMb: number }, url: string): OpError | null {
    const config = this.groups.get(groupKey(zone, group));
    if (config) {
      for (const node of nodeNames(config)) {
        const used = this.usedOn(zone, group, node);
        if (config.cpus - used.cpus >= shape.cpus && config.memoryMb - used.memoryMb >= shape.memoryMb) {
          this.placed.set(key, { group: groupKey(zone, group), node, ...shape, url });
          return null;
        }
      }
    }
    this.rejected++;
    return {
      // The message Compute Engine gives when no node matches the affinity with room
      // (https://github.com/hashicorp/terraform-provider-google/issues/8928); sole-tenant
      // capacity is a resource-availability failure, hence the stock-out code.
      code: 'ZONE_RESOURCE_POOL_EXHAUSTED',
      message: 'Instance could not be scheduled due to no matching node with property compatibility.',
      httpStatus: 503,
      httpMessage: 'SERVICE UNAVAILABLE',
    };
  }

  release(key: string): void {
    this.placed.delete(key);
  }

  /** The node an instance runs on, or null. */
  nodeOf(key: string): string | null {
    return this.placed.get(key)?.node ?? null;
  }

  /** `nodeGroups.listNodes`: the nodes with their type and the instances on them. */
  listNodes(project: string, zone: string, group: string): Json {
    const config = this.groups.get(groupKey(zone, group));
    if (!config) throw apiNotFound(`projects/${project}/zones/${zone}/nodeGroups/${group}`);
    const nodeType = `${API_BASE}/projects/${project}/zones/${zone}/nodeTypes/${nodeTypeOf(config)}`;
    return {
      kind: 'compute#nodeGroupsListNodes',
      id: `projects/${project}/zones/${zone}/nodeGroups/${group}`,
      items: nodeNames(config).map((node) => ({
        name: node,
        nodeType,
        status: 'READY',
        instances: [...this.placed.values()].filter((p) => p.group === groupKey(zone, group) && p.node === node).map((p) => p.url),
      })),
      selfLink: `${API_BASE}/projects/${project}/zones/${zone}/nodeGroups/${group}/listNodes`,
    };
  }

  /** `nodeTypes.get` for a type one of the zone's groups uses. */
  nodeType(project: string, zone: string, name: string): Json {
    const config = [...this.groups.values()].find((c) => c.zone === zone && nodeTypeOf(c) === name);
    if (!config) throw apiNotFound(`projects/${project}/zones/${zone}/nodeTypes/${name}`);
    return {
      kind: 'compute#nodeType',
      name,
      guestCpus: config.cpus,
      memoryMb: config.memoryMb,
      zone: `${API_BASE}/projects/${project}/zones/${zone}`,
      selfLink: `${API_BASE}/projects/${project}/zones/${zone}/nodeTypes/${name}`,
    };
  }

  private usedOn(zone: string, group: string, node: string): { cpus: number; memoryMb: number } {
    let cpus = 0;
    let memoryMb = 0;
    for (const p of this.placed.values()) {
      if (p.group !== groupKey(zone, group) || p.node !== node) continue;
      cpus += p.cpus;
      memoryMb += p.memoryMb;
    }
    return { cpus, memoryMb };
  }
}
