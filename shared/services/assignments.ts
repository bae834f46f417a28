/**
 * Assignments: list machines, change a claimed machine's expiry or assignee, renew a
 * claim. A claim token sees and changes only its own principal's machines (any other
 * answers 404, exactly like a machine that does not exist); admin tokens all of them.
 * Keys reach the machine off this path: the record's access goes `pending`, and
 * reconcile applies it (claim-access.ts).
 */
import { WarmerError } from '../errors.js';
import {
  changedAssignment,
  renewedAssignment,
  type AssignmentChange,
  type ChangeOutcome,
  type InstancePage,
  type InstanceQuery,
} from '../domain/assignment.js';
import type { InstanceRecord } from '../domain/instance.js';
import type { Caller } from '../auth.js';
import type { AssignmentStore } from '../ports.js';
import type { ApiDeps } from './deps.js';

export const LIST_LIMIT_DEFAULT = 100;
export const LIST_LIMIT_MAX = 500;

function store(deps: ApiDeps): AssignmentStore {
  if (!deps.assignments) throw new WarmerError('internal', 'no assignment store configured');
  return deps.assignments;
}

const notFound = (name: string) => new WarmerError('not_found', `instance "${name}" does not exist`);
const visible = (r: InstanceRecord, caller: Caller) => caller.role === 'admin' || (r.claim !== null && r.claim.principal === caller.principal);

/** Machines matching the query; a claim token's listing is always narrowed to its principal. */
export async function listInstances(deps: ApiDeps, query: Omit<InstanceQuery, 'principal'>, caller: Caller): Promise<InstancePage> {
  return store(deps).list({ ...query, ...(caller.role === 'admin' ? {} : { principal: caller.principal }) });
}

/** Applies a pure change to a machine the caller may see, compare-and-set in one transaction. */
async function modifyVisible(deps: ApiDeps, name: string, caller: Caller, change: (r: InstanceRecord) => ChangeOutcome): Promise<InstanceRecord> {
  let outcome: ChangeOutcome | null = null;
  const res = await store(deps).modify(name, (current) => {
    outcome = visible(current, caller) ? change(current) : null;
    return outcome?.ok ? outcome.record : null;
  });
  if (!res || !visible(res.before, caller)) throw notFound(name);
  const o = outcome as ChangeOutcome | null;
  if (!o) throw notFound(name);
  if (!o.ok) throw new WarmerError(o.code, o.message);
  return res.after!;
}

/** PATCH /instances/{name}: a new expiry and/or a new assignee with keys. */
export async function changeAssignment(deps: ApiDeps, name: string, change: AssignmentChange, caller: Caller): Promise<InstanceRecord> {
  const now = deps.clock.now();
  const next = await modifyVisible(deps, name, caller, (r) => changedAssignment(r, change, now));
  deps.logger.info('assignment changed', {
    instance: name,
    pool: next.pool,
    principal: caller.principal,
    assignee: next.claim?.assignee ?? null,
    expiresAt: next.claim?.expiresAt ?? null,
    reassigned: change.reassign !== undefined,
  });
  return next;
}

/** POST /instances/{name}/renew: the claim expires one claim lifetime from now. */
export async function renewAssignment(deps: ApiDeps, name: string, caller: Caller): Promise<InstanceRecord> {
  const now = deps.clock.now();
  const next = await modifyVisible(deps, name, caller, (r) => renewedAssignment(r, now));
  deps.logger.debug('claim renewed', { instance: name, pool: next.pool, expiresAt: next.claim?.expiresAt ?? null });
  return next;
}
