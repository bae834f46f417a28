/**
 * The pool spec's placement: a sole-tenant node group the pool's machines are placed on
 * (node affinity), and the rules that go with it. How much fits is placement.ts.
 */
import { z } from 'zod';
import type { SpecProblem } from './pool-spec.js';

const NODE_GROUP_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * A dedicated-node pool: its machines are created with node affinity to a sole-tenant
 * node group, and its capacity is what really fits on the group's nodes (placement.ts).
 */
export const placementSchema = z
  .object({
    /** The sole-tenant node group's name (in the pool's one zone). */
    nodeGroup: z.string().regex(NODE_GROUP_NAME, 'node group names are lowercase resource names'),
    /** Room left free on the group for something else of this size (held on one node). */
    reserve: z
      .object({
        cpus: z.number().int().min(0).max(1024),
        memoryMb: z
          .number()
          .int()
          .min(0)
          .max(64 * 1024 * 1024),
      })
      .strict()
      .nullable()
      .default(null),
  })
  .strict();

/** Rules across fields: `fill` needs a placement (and no demand sizing); a placement has one zone. */
export function placementProblems(s: Record<string, unknown>): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const placed = typeof s.placement === 'object' && s.placement !== null;
  if (s.targetReady === 'fill' && !placed) {
    problems.push({ path: 'targetReady', message: 'targetReady "fill" needs a placement (placement.nodeGroup): it fills the node group' });
  }
  const sizing = typeof s.sizing === 'object' && s.sizing !== null ? (s.sizing as Record<string, unknown>) : null;
  if (s.targetReady === 'fill' && sizing?.mode === 'demand') {
    problems.push({ path: 'targetReady', message: 'targetReady "fill" and sizing.mode "demand" exclude each other' });
  }
  if (placed && Array.isArray(s.zones) && s.zones.length !== 1) {
    problems.push({ path: 'zones', message: "a pool with a placement has exactly one zone: the node group's" });
  }
  return problems;
}
