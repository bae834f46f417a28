/**
 * Sole-tenant placement reads over `@google-cloud/compute`: a node group's nodes with
 * their node type's vCPUs and memory and what the instances on each node use, and a
 * machine type's shape. Shapes checked against the REST reference:
 * https://cloud.google.com/compute/docs/reference/rest/v1/nodeGroups/listNodes
 * (items[].nodeType, items[].instances[] as instance URLs, items[].consumedResources),
 * https://cloud.google.com/compute/docs/reference/rest/v1/nodeTypes/get (guestCpus, memoryMb),
 * https://cloud.google.com/compute/docs/reference/rest/v1/machineTypes/get (guestCpus, memoryMb).
 */
import compute from '@google-cloud/compute';
import { WarmerError } from '../errors.js';
import { lastSegment } from '../domain/resource-path.js';
import type { NodeCapacity, Shape } from '../domain/placement.js';
import { toWarmerError } from './gce-errors.js';

type ClientOptions = ConstructorParameters<typeof compute.NodeGroupsClient>[0];

export class GcePlacement {
  private readonly nodeGroups: InstanceType<typeof compute.NodeGroupsClient>;
  private readonly nodeTypes: InstanceType<typeof compute.NodeTypesClient>;
  private readonly machineTypes: InstanceType<typeof compute.MachineTypesClient>;
  private readonly instances: InstanceType<typeof compute.InstancesClient>;

  constructor(
    private readonly project: string,
    clientOptions: ClientOptions,
    private readonly callOptions: { timeout: number },
  ) {
    this.nodeGroups = new compute.NodeGroupsClient(clientOptions);
    this.nodeTypes = new compute.NodeTypesClient(clientOptions);
    this.machineTypes = new compute.MachineTypesClient(clientOptions);
    this.instances = new compute.InstancesClient(clientOptions);
  }

  /** vCPUs and memory of a machine type in a zone. */
  async machineShape(zone: string, machineType: string): Promise<Shape> {
    const type = lastSegment(machineType);
    try {
      const [mt] = await this.machineTypes.get({ project: this.project, zone, machineType: type }, this.callOptions);
      return { cpus: Number(mt.guestCpus ?? 0), memoryMb: Number(mt.memoryMb ?? 0) };
    } catch (err) {
      throw toWarmerError(err, `get machine type ${zone}/${type}`);
    }
  }

  /** Every node of the group (all pages) with its total and used vCPUs and memory. */
  async nodes(zone: string, nodeGroup: string): Promise<NodeCapacity[]> {
    const context = `list nodes of ${zone}/${nodeGroup}`;
    const nodeTypes = new Map<string, Promise<Shape>>();
    const shapes = new Map<string, Promise<Shape>>();
    const nodeType = (name: string) => {
      if (!nodeTypes.has(name)) {
        nodeTypes.set(
          name,
          this.nodeTypes.get({ project: this.project, zone, nodeType: name }, this.callOptions).then(
            ([t]) => ({ cpus: Number(t.guestCpus ?? 0), memoryMb: Number(t.memoryMb ?? 0) }),
            (err: unknown) => {
              throw toWarmerError(err, `get node type ${zone}/${name}`);
            },
          ),
        );
      }
      return nodeTypes.get(name)!;
    };
    const shapeOf = (type: string) => {
      if (!shapes.has(type)) shapes.set(type, this.machineShape(zone, type));
      return shapes.get(type)!;
    };
    const used = async (instanceUrls: readonly string[]): Promise<Shape> => {
      const sizes = await Promise.all(
        instanceUrls.map(async (url) => {
          const parts = url.split('/');
          const name = parts.pop()!;
          const instZone = parts[parts.length - 2] ?? zone;
          try {
            const [inst] = await this.instances.get({ project: this.project, zone: instZone, instance: name }, this.callOptions);
            return shapeOf(lastSegment(inst.machineType ?? ''));
          } catch (err) {
            const e = toWarmerError(err, `get ${instZone}/${name}`);
            if (e.code === 'not_found') return { cpus: 0, memoryMb: 0 }; // deleted since the listing
            throw e;
          }
        }),
      );
      return sizes.reduce((a, b) => ({ cpus: a.cpus + b.cpus, memoryMb: a.memoryMb + b.memoryMb }), { cpus: 0, memoryMb: 0 });
    };
    const out: NodeCapacity[] = [];
    try {
      for await (const node of this.nodeGroups.listNodesAsync({ project: this.project, zone, nodeGroup }, { ...this.callOptions, autoPaginate: false })) {
        if (!node.nodeType) throw new WarmerError('operation_failed', `${context}: node ${node.name} has no node type`);
        const total = await nodeType(lastSegment(node.nodeType));
        // consumedResources when the API reports it; else the sum of the instances' machine types.
        const consumed = node.consumedResources;
        const usage =
          consumed && consumed.guestCpus != null && consumed.memoryMb != null
            ? { cpus: Number(consumed.guestCpus), memoryMb: Number(consumed.memoryMb) }
            : await used(node.instances ?? []);
        out.push({ name: node.name ?? '', cpus: total.cpus, memoryMb: total.memoryMb, usedCpus: usage.cpus, usedMemoryMb: usage.memoryMb });
      }
    } catch (err) {
      throw toWarmerError(err, context);
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all([this.nodeGroups.close(), this.nodeTypes.close(), this.machineTypes.close(), this.instances.close()]);
  }
}
