/**
 * The assignment routes: GET /instances (filtered, paged), PATCH /instances/{name}
 * (expiry, reassignment with keys), POST /instances/{name}/renew. Claim tokens see and
 * change only their own principal's machines (404 for any other).
 */
import { z } from 'zod';
import { WarmerError } from '../../shared/errors.js';
import { isInstanceState, type InstanceState } from '../../shared/domain/instance.js';
import { POOL_NAME, RESOURCE_NAME, sshKeyEntrySchema } from '../../shared/domain/pool-spec.js';
import type { AssignmentChange } from '../../shared/domain/assignment.js';
import type { ApiDeps } from '../../shared/services/deps.js';
import { changeAssignment, listInstances, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, renewAssignment } from '../../shared/services/assignments.js';
import { requestRefill } from '../../shared/services/claim.js';
import type { Route } from './router.js';
import { instanceName, parseBody } from './routes.js';
import { instanceView } from './views.js';

const patchBody = z
  .object({
    expiresAt: z.union([z.iso.datetime({ offset: true }), z.null()]).optional(),
    extendBySeconds: z
      .number()
      .int()
      .min(1)
      .max(366 * 24 * 3600)
      .optional(),
    assignee: z.string().min(1).max(256).optional(),
    sshKeys: z.array(sshKeyEntrySchema).max(64).optional(),
  })
  .strict()
  .refine((b) => !(b.expiresAt !== undefined && b.extendBySeconds !== undefined), { message: 'give expiresAt or extendBySeconds, not both' })
  .refine((b) => b.sshKeys === undefined || b.assignee !== undefined, { message: 'sshKeys come with an assignee (a reassignment)', path: ['sshKeys'] })
  .refine((b) => b.expiresAt !== undefined || b.extendBySeconds !== undefined || b.assignee !== undefined, {
    message: 'nothing to change: give expiresAt, extendBySeconds or assignee (with sshKeys)',
  });

const QUERY_KEYS = new Set(['pool', 'state', 'assignee', 'limit', 'pageToken']);

function bad(message: string): never {
  throw new WarmerError('bad_request', message);
}

/** The page token is the last name of the previous page, base64url (opaque to clients). */
export const encodePageToken = (name: string) => Buffer.from(name, 'utf8').toString('base64url');
function decodePageToken(token: string): string {
  const name = Buffer.from(token, 'base64url').toString('utf8');
  if (!RESOURCE_NAME.test(name)) bad('pageToken is not one this API gave out');
  return name;
}

function one(query: Record<string, unknown>, key: string): string | undefined {
  const v = query[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') bad(`${key} may be given once`);
  return v;
}

export function parseListQuery(query: Record<string, unknown>) {
  for (const k of Object.keys(query)) if (!QUERY_KEYS.has(k)) bad(`unknown query parameter "${k}" (pool, state, assignee, limit, pageToken)`);
  const pool = one(query, 'pool');
  if (pool !== undefined && !POOL_NAME.test(pool)) bad(`"${pool}" is not a valid pool name`);
  const stateText = one(query, 'state');
  let states: InstanceState[] | undefined;
  if (stateText !== undefined) {
    states = stateText.split(',').map((s) => {
      if (!isInstanceState(s)) bad(`"${s}" is not a state (creating, booting, ready, claimed, unhealthy, failed, deleting, deleted)`);
      return s;
    });
  }
  const assignee = one(query, 'assignee');
  if (assignee !== undefined && (assignee.length === 0 || assignee.length > 256)) bad('assignee is 1-256 characters');
  const limitText = one(query, 'limit');
  const limit = limitText === undefined ? LIST_LIMIT_DEFAULT : Number(limitText);
  if (!/^[0-9]+$/.test(limitText ?? '1') || !Number.isInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX)
    bad(`limit is a whole number from 1 to ${LIST_LIMIT_MAX}`);
  const token = one(query, 'pageToken');
  return {
    limit,
    ...(pool !== undefined ? { pool } : {}),
    ...(states ? { states } : {}),
    ...(assignee !== undefined ? { assignee } : {}),
    ...(token !== undefined ? { after: decodePageToken(token) } : {}),
  };
}

export function assignmentRoutes(deps: () => Promise<ApiDeps>): Route[] {
  return [
    {
      method: 'GET',
      path: '/instances',
      auth: 'claim',
      async handle(ctx) {
        const query = parseListQuery(ctx.req.query as Record<string, unknown>);
        const page = await listInstances(await deps(), query, ctx.caller);
        return {
          status: 200,
          body: { instances: page.records.map((r) => instanceView(r)), nextPageToken: page.next === null ? null : encodePageToken(page.next) },
        };
      },
    },
    {
      method: 'PATCH',
      path: '/instances/:name',
      auth: 'claim',
      async handle(ctx) {
        const name = instanceName(ctx);
        const body = parseBody(patchBody, ctx.body);
        const d = await deps();
        const change: AssignmentChange = {};
        if (body.expiresAt !== undefined) change.expiresAt = body.expiresAt === null ? null : Date.parse(body.expiresAt);
        if (body.assignee !== undefined) change.reassign = { assignee: body.assignee, sshKeys: body.sshKeys ?? [] };
        if (body.extendBySeconds !== undefined) change.extendBySeconds = body.extendBySeconds;
        const next = await changeAssignment(d, name, change, ctx.caller);
        // New keys reach the machine in a reconcile pass: ask for one now.
        if (change.reassign) requestRefill(d, next.pool, 'access');
        return { status: 200, body: instanceView(next) };
      },
    },
    {
      method: 'POST',
      path: '/instances/:name/renew',
      auth: 'claim',
      async handle(ctx) {
        return { status: 200, body: instanceView(await renewAssignment(await deps(), instanceName(ctx), ctx.caller)) };
      },
    },
  ];
}
