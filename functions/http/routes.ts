/**
 * The routes of the two HTTP functions. Parsing and mapping only: every decision is in
 * a service. Request bodies are validated strictly (unknown fields → 400).
 */
import { z } from 'zod';
import { WarmerError } from '../../shared/errors.js';
import { isValidPoolName, POOL_NAME, RESOURCE_NAME, sshKeyEntrySchema, type PoolSpec } from '../../shared/domain/pool-spec.js';
import type { ApiDeps } from '../../shared/services/deps.js';
import { claimInstances, getInstance, releaseInstance, requestInstanceTravis, TRAVIS_ANSWER_BUDGET_MS } from '../../shared/services/claim.js';
import { disablePool, listPoolStatuses, poolStatus, putPool, systemStatus } from '../../shared/services/pools.js';
import { cachedStatus } from '../../shared/services/dashboard.js';

/** `GET /status` from a cache of STATUS_CACHE_MS: concurrent requests share one set of count() queries. */
const cachedSystemStatus = cachedStatus(systemStatus);
import type { Reply, Route, RouteContext } from './router.js';
import { instanceView, poolView } from './views.js';
import { poolDemand } from '../../shared/services/pool-demand.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Compute Engine's label rules: https://cloud.google.com/compute/docs/labeling-resources#requirements */
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;

/**
 * Claim labels, read key by key from the parsed body's own properties (not with
 * z.record, which drops a `__proto__` key and refuses an object with a `constructor`
 * key). `constructor` is a valid label key; `__proto__` is not (keys start with a letter)
 * and is refused like any other invalid key. The result is built with Object.fromEntries,
 * which defines own properties, so no key can reach a prototype.
 */
const labelsSchema = z.unknown().transform((v, ctx): Record<string, string> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    ctx.issues.push({ code: 'custom', input: v, message: 'labels is an object of "key": "value" strings' });
    return z.NEVER;
  }
  const entries = Object.entries(v);
  if (entries.length > 16) ctx.issues.push({ code: 'custom', input: v, message: 'at most 16 labels' });
  for (const [key, value] of entries) {
    if (!LABEL_KEY.test(key)) {
      ctx.issues.push({
        code: 'custom',
        input: key,
        path: [key],
        message: `label key "${key}" is invalid: keys start with a lowercase letter, then up to 62 lowercase letters, digits, _ or -`,
      });
    }
    if (typeof value !== 'string' || !LABEL_VALUE.test(value)) {
      ctx.issues.push({ code: 'custom', input: value, path: [key], message: 'label values are strings of at most 63 lowercase letters, digits, _ or -' });
    }
  }
  return Object.fromEntries(entries) as Record<string, string>;
});

const claimBody = z
  .object({
    pool: z.string().regex(POOL_NAME, 'pool names are lowercase letters, digits and -, starting with a letter, at most 40 characters'),
    requestId: z.string().regex(REQUEST_ID, 'requestId is 1-128 characters of letters, digits, . _ : -').optional(),
    assignee: z.string().min(1).max(256).optional(),
    labels: labelsSchema.optional(),
    count: z.number().int().min(1).max(50).optional(),
    sshKeys: z.array(sshKeyEntrySchema).max(64).optional(),
    lifetimeSeconds: z
      .number()
      .int()
      .min(10)
      .max(366 * 24 * 3600)
      .optional(),
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

/**
 * Parses a claim's body and a Travis request's once, as the warm-up of a new instance:
 * zod compiles an object schema's parser on its first parse. Pure: nothing is read or written.
 */
export function warmBodySchemas(): void {
  claimBody.safeParse({ pool: 'warm-up', requestId: 'warm-up', assignee: 'warm-up', labels: { warm: 'up' }, count: 1, lifetimeSeconds: 60 });
  travisBody.safeParse({ site: 'org', image_name: 'warm-up', machine_type: 'warm-up', public_ip: 'false' });
}

export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
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

export function instanceName(ctx: RouteContext): string {
  const name = ctx.params.name!;
  if (!RESOURCE_NAME.test(name)) throw new WarmerError('bad_request', `"${name}" is not a valid instance name`);
  return name;
}

function poolName(ctx: RouteContext): string {
  const name = ctx.params.name!;
  if (!isValidPoolName(name))
    throw new WarmerError('bad_request', `"${name}" is not a valid pool name (lowercase letters, digits and -, starting with a letter, at most 40 characters)`);
  return name;
}

const ok = (body: unknown, status = 200): Reply => ({ status, body });

/** What an admin should know about an accepted spec (answered as `warnings`, and logged). */
export function poolWarnings(spec: PoolSpec): string[] {
  const warnings: string[] = [];
  if (spec.perMachineSshKeys && spec.claimLifetimeSeconds === null && spec.maxRunDurationSeconds === null) {
    warnings.push(
      'this pool serves Travis requests (perMachineSshKeys) but sets neither claimLifetimeSeconds nor maxRunDurationSeconds: a worker that dies leaves its machine claimed forever',
    );
  }
  return warnings;
}

export function claimRoutes(deps: () => Promise<ApiDeps>, travisAnswerBudgetMs: () => number = () => TRAVIS_ANSWER_BUDGET_MS): Route[] {
  return [
    {
      method: 'POST',
      path: '/claim',
      auth: 'claim',
      async handle(ctx) {
        const body = parseBody(claimBody, ctx.body);
        const headerKey = ctx.req.get('idempotency-key');
        if (headerKey !== undefined && !REQUEST_ID.test(headerKey))
          throw new WarmerError('bad_request', 'Idempotency-Key is 1-128 characters of letters, digits, . _ : -');
        const res = await claimInstances(
          await deps(),
          {
            pool: body.pool,
            principal: ctx.caller.principal,
            requestId: body.requestId ?? headerKey ?? null,
            assignee: body.assignee ?? null,
            labels: body.labels ?? {},
            count: body.count ?? 1,
            ...(body.sshKeys ? { sshKeys: body.sshKeys } : {}),
            ...(body.lifetimeSeconds !== undefined ? { lifetimeSeconds: body.lifetimeSeconds } : {}),
          },
          { clientGone: ctx.clientGone },
        );
        return ok({ instances: res.instances.map((i) => instanceView(i, { withKey: true })), replayed: res.replayed });
      },
    },
    {
      method: 'GET',
      path: '/instances/:name',
      auth: 'claim',
      async handle(ctx) {
        return ok(instanceView(await getInstance(await deps(), instanceName(ctx), ctx.caller)));
      },
    },
    {
      method: 'DELETE',
      path: '/instances/:name',
      auth: 'claim',
      async handle(ctx) {
        const res = await releaseInstance(await deps(), instanceName(ctx), ctx.caller);
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
        const request = { imageName: body.image_name, machineType: body.machine_type, publicIp: body.public_ip === true || body.public_ip === 'true' };
        const out = await requestInstanceTravis(await deps(), request, ctx.caller, travisAnswerBudgetMs(), { clientGone: ctx.clientGone });
        if (out.kind === 'no_pool') {
          ctx.logger.info('travis request matched no pool', {
            status: 404,
            image: body.image_name,
            machineType: body.machine_type,
            publicIp: request.publicIp,
            reason:
              out.unkeyed.length > 0
                ? `pool(s) ${out.unkeyed.join(', ')} match but have no per-machine SSH keys (perMachineSshKeys); only keyed pools serve Travis requests`
                : 'no enabled pool with per-machine SSH keys has this image, machine type and public_ip',
          });
          return { status: 404, body: { error: 'no config found for pool' } };
        }
        if (out.kind === 'empty') {
          ctx.logger.info('travis request found no ready machine', {
            status: 409,
            pool: out.pool,
            reason: 'the matching keyed pools have no ready machine (only pools with per-machine SSH keys serve Travis requests)',
          });
          return { status: 409, body: { error: 'no instance available in pool' } };
        }
        const i = out.instance;
        return ok({
          name: i.name,
          zone: i.zone,
          ip: i.ip ?? '',
          public_ip: i.publicIp ?? '',
          // Never empty: only keyed pools match, and a keyless machine is released (claim.ts).
          ssh_private_key: i.sshPrivateKeyEncrypted!,
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
      method: 'GET',
      path: '/pools/:name/demand',
      auth: 'admin',
      async handle(ctx) {
        // The pool's recorded claims as a job trace (warmer simulate --pool NAME).
        const days = new URL(ctx.req.url ?? '/', 'http://warmer').searchParams.get('days');
        const d = await poolDemand(await deps(), poolName(ctx), days === null ? 7 : days.trim() === '' ? NaN : Number(days));
        return ok({ ...d, since: new Date(d.since).toISOString(), until: new Date(d.until).toISOString() });
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
        const warnings = poolWarnings(res.pool.spec);
        for (const w of warnings) ctx.logger.warn('pool accepted with a warning', { pool: res.pool.name, warning: w });
        return ok({ ...poolView(await poolStatus(d, res.pool.name)), ...(warnings.length > 0 ? { warnings } : {}) }, res.created ? 201 : 200);
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
