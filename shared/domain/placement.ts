/**
 * Real placement on a sole-tenant node group: how many more machines of a pool's shape
 * fit, node by node, given each node's total and used vCPUs and memory. A machine never
 * spans nodes, so this is a first-fit count per node, never total free ÷ size (two nodes
 * with 3 free vCPUs each hold no 4-vCPU machine). Pure.
 *
 * The reserve (`placement.reserve`) is room the pool leaves free for something else of
 * that size (a machine the deployer starts by hand): it is held on the node with the
 * most free room that can hold it, before counting; when no node can hold it, nothing
 * more fits (filling would only make it worse).
 */

/** A machine's (or a reserve's) size. */
export interface Shape {
  cpus: number;
  memoryMb: number;
}

/** One node of a node group, as Compute Engine reports it. */
export interface NodeCapacity {
  name: string;
  /** The node type's vCPUs and memory. */
  cpus: number;
  memoryMb: number;
  /** What the instances on the node use. */
  usedCpus: number;
  usedMemoryMb: number;
}

/** What the Compute adapter reads for a node group: its nodes and the pool's machine shape. */
export interface NodeGroupPlacement {
  nodes: NodeCapacity[];
  shape: Shape;
}

/** What the placement read of a pass found: how many more machines fit now, and why. */
export interface PlacementCapacity {
  nodeGroup: string;
  /** More machines of the pool's shape that fit on the group's nodes now (reserve held back). */
  fits: number;
  nodes: number;
  shape: Shape;
}

const free = (n: NodeCapacity): Shape => ({ cpus: n.cpus - n.usedCpus, memoryMb: n.memoryMb - n.usedMemoryMb });
const holds = (room: Shape, s: Shape) => room.cpus >= s.cpus && room.memoryMb >= s.memoryMb;

/** How many more machines of `shape` fit on `nodes`, leaving `reserve` placeable on one node. */
export function machinesThatFit(nodes: readonly NodeCapacity[], shape: Shape, reserve: Shape | null = null): number {
  if (shape.cpus <= 0 && shape.memoryMb <= 0) return 0;
  const rooms = [...nodes].sort((a, b) => a.name.localeCompare(b.name)).map(free);
  if (reserve !== null && (reserve.cpus > 0 || reserve.memoryMb > 0)) {
    // The node with the most free room that holds the reserve keeps it.
    let best = -1;
    rooms.forEach((r, i) => {
      if (holds(r, reserve) && (best === -1 || r.cpus > rooms[best]!.cpus || (r.cpus === rooms[best]!.cpus && r.memoryMb > rooms[best]!.memoryMb))) best = i;
    });
    if (best === -1) return 0;
    rooms[best] = { cpus: rooms[best]!.cpus - reserve.cpus, memoryMb: rooms[best]!.memoryMb - reserve.memoryMb };
  }
  let count = 0;
  for (const room of rooms) {
    const byCpu = shape.cpus > 0 ? Math.floor(room.cpus / shape.cpus) : Infinity;
    const byMemory = shape.memoryMb > 0 ? Math.floor(room.memoryMb / shape.memoryMb) : Infinity;
    count += Math.max(0, Math.min(byCpu, byMemory));
  }
  return count;
}

/**
 * The ready target of a `targetReady: 'fill'` pool: the machines warming or warm now
 * (creating + booting + ready) plus those that still fit, capped by maxSize. `fits` is
 * what is free on the nodes now, so inserts not yet on a node (`pending`: creating
 * records whose machine is not listed) are taken off it first. Unknown placement (null)
 * holds the pool where it is: no creations, no over-target teardowns.
 */
export function fillTarget(args: { maxSize: number; warm: number; pending: number; placement: PlacementCapacity | null }): number {
  const { maxSize, warm, pending, placement } = args;
  if (placement === null) return Math.min(maxSize, warm);
  return Math.min(maxSize, warm + Math.max(0, placement.fits - pending));
}

/** Records whose insert is not on a node yet: `creating` with no machine listed. */
export function pendingInserts(records: ReadonlyArray<{ name: string; state: string }>, machines: ReadonlyArray<{ name: string }>): number {
  const listed = new Set(machines.map((m) => m.name));
  return records.filter((r) => r.state === 'creating' && !listed.has(r.name)).length;
}
