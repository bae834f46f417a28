/**
 * The routes of the two HTTP functions. Parsing and mapping only: every decision is in
 * a service. Request bodies are validated strictly (unknown fields → 400).
 */
import { z } from 'zod';
import { WarmerError } from '../../shared/errors.js';
import { isValidPoolName, POOL_NAME, RESOURCE_NAME } from '../../shared/domain/pool-spec.js';
import type { ApiDeps } from '../../shared/services/deps.js';
import { claimInstances, getInstance, releaseInstance, requestInstanceTravis } from '../../shared/services/claim.js';
import { disablePool, listPoolStatuses, poolStatus, putPool, systemStatus } from '../../shared/services/pools.js';
import { cachedStatus } from '../../shared/services/dashboard.js';

/** `GET /status` from a cache of STATUS_CACHE_MS: concurrent requests share one set of count() queries. */
const cachedSystemStatus = cachedStatus(systemStatus);
import type { Reply, Route, RouteContext } from './router.js';
import { instanceView, poolView } from './views.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const claimBody = z
  .object({
    pool: z.string().regex(POOL_NAME, 'pool names are lowercase letters, digits and -, starting with a letter, at most 40 characters'),
    requestId: z.string().regex(REQUEST_ID, 'requestId is 1-128 characters of letters, digits, . _ : -').optional(),
    assignee: z.string().min(1).max(256).optional(),
    labels: z
      .record(z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'label keys are lowercase, at most 63 characters'), z.string().regex(/^[a-z0-9_-]{0,63}$/, 'label values are lowercase, at most 63 characters'))
      .refine((l) => Object.keys(l).length <= 16, 'at most 16 labels')
      .optional(),
    count: z.number().int().min(1).max(50).optional(),
  })
  .strict();

/** Exactly what the Travis worker sends (FACTS.md). */
const travisBody = z
  .object({
    site: z.string().max(256).optional(),
    zone: z.string().max(256).optional(),
    image_name: z.string().min(1).max(1024),
    machine_type: z.string().min(1).max(1024),
    public_ip: z.union([z.boolean(), z.enum(['true', 'false'])]).optional(),
  })
  .strict();

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === undefined) throw new WarmerError('bad_request', 'a JSON body is required');
  const r = schema.safeParse(body);
  if (!r.success) {
    throw new WarmerError('bad_request', 'invalid request body', {
      details: r.error.issues.map((i) => ({
        path: i.path.map(String).join('.') || '(body)',
        message: i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : i.message,
      })),
    });
  }
  return r.data;
}

function instanceName(ctx: RouteContext): string {
  const name = ctx.params.name!;
  if (!RESOURCE_NAME.test(name)) throw new WarmerError('bad_request', `"${name}" is not a valid instance name`);
  return name;
}

function poolName(ctx: RouteContext): string {
  const name = ctx.params.name!;
  if (!isValidPoolName(name)) throw new WarmerError('bad_request', `"${name}" is not a valid pool name (lowercase letters, digits and -, starting with a letter, at most 40 characters)`);
  return name;
}

const ok = (body: unknown, status = 200): Reply => ({ status, body });

export function claimRoutes(deps: () => Promise<ApiDeps>): Route[] {
  return [
    {
      method: 'POST',
      path: '/claim',
      auth: 'claim',
      async handle(ctx) {
        const body = parseBody(claimBody, ctx.body);
        const headerKey = ctx.req.get('idempotency-key');
        if (headerKey !== undefined && !REQUEST_ID.test(headerKey)) throw new WarmerError('bad_request', 'Idempotency-Key is 1-128 characters of letters, digits, . _ : -');
        const res = await claimInstances(await deps(), {
          pool: body.pool,
          requestId: body.requestId ?? headerKey ?? null,
          assignee: body.assignee ?? null,
          labels: body.labels ?? {},
          count: body.count ?? 1,
        });
        return ok({ instances: res.instances.map((i) => instanceView(i, { withKey: true })), replayed: res.replayed });
      },
    },
    {
      method: 'GET',
      path: '/instances/:name',
      auth: 'claim',
      async handle(ctx) {
        return ok(instanceView(await getInstance(await deps(), instanceName(ctx))));
      },
    },
    {
      method: 'DELETE',
      path: '/instances/:name',
      auth: 'claim',
      async handle(ctx) {
        const res = await releaseInstance(await deps(), instanceName(ctx), ctx.token);
        return ok({ instance: instanceView(res.instance), alreadyReleased: res.alreadyReleased }, 202);
      },
    },
    {
      method: 'POST',
      path: '/request-instance',
      auth: 'claim',
      basicAuth: true,
      mapError(err) {
        if (err.code === 'not_found') return { status: 404, body: { error: 'no config found for pool' } };
        if (err.code === 'pool_empty' || err.code === 'pool_disabled') return { status: 409, body: { error: 'no instance available in pool' } };
        return null;
      },
      async handle(ctx) {
        const body = parseBody(travisBody, ctx.body);
        const out = await requestInstanceTravis(await deps(), {
          imageName: body.image_name,
          machineType: body.machine_type,
          publicIp: body.public_ip === true || body.public_ip === 'true',
        });
        if (out.kind === 'no_pool') return { status: 404, body: { error: 'no config found for pool' } };
        if (out.kind === 'empty') return { status: 409, body: { error: 'no instance available in pool' } };
        const i = out.instance;
        return ok({
          name: i.name,
          zone: i.zone,
          ip: i.ip ?? '',
          public_ip: i.publicIp ?? '',
          ssh_private_key: i.sshPrivateKeyEncrypted ?? '',
        });
      },
    },
  ];
}

export function adminRoutes(deps: () => Promise<ApiDeps>): Route[] {
  return [
    {
      method: 'GET',
      path: '/pools',
      auth: 'admin',
      async handle() {
        return ok({ pools: (await listPoolStatuses(await deps())).map(poolView) });
      },
    },
    {
      method: 'GET',
      path: '/pools/:name',
      auth: 'admin',
      async handle(ctx) {
        return ok(poolView(await poolStatus(await deps(), poolName(ctx))));
      },
    },
    {
      method: 'PUT',
      path: '/pools/:name',
      auth: 'admin',
      async handle(ctx) {
        const name = poolName(ctx);
        if (ctx.body === undefined) throw new WarmerError('bad_request', 'a JSON body with the pool spec is required');
        const d = await deps();
        const res = await putPool(d, name, ctx.body);
        return ok(poolView(await poolStatus(d, res.pool.name)), res.created ? 201 : 200);
      },
    },
    {
      method: 'DELETE',
      path: '/pools/:name',
      auth: 'admin',
      async handle(ctx) {
        const d = await deps();
        const pool = await disablePool(d, poolName(ctx));
        return ok(poolView(await poolStatus(d, pool.name)), 202);
      },
    },
    {
      method: 'GET',
      path: '/status',
      auth: 'admin',
      async handle() {
        return ok(await cachedSystemStatus(await deps()));
      },
    },
  ];
}
