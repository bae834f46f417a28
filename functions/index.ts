/**
 * The entry point: registers every function with functions-framework. No decisions here.
 *
 *   claim      HTTP      POST /claim, GET|DELETE /instances/{name}, POST /request-instance
 *   admin      HTTP      /pools, /pools/{name}, /status
 *   api        HTTP      both of the above behind one URL (the local stack)
 *   reconcile  Pub/Sub   refill requests and the scheduler's tick
 *   teardown   Pub/Sub   teardown requests
 *
 * Importing it loads only functions-framework and the two hooks that must be in place
 * before functions-framework builds its server (the body guard and the JSON final
 * handler); the configuration module (zod) is imported with the rest. The routes, services, adapters and cloud SDKs are imported on the
 * first call of a function (each function only what it uses: the claim never loads
 * Compute Engine or the reconcile code), and the API path is warmed up in the background
 * right after the import (deps.ts warmUp).
 */
import { create as createDomain } from 'node:domain';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Server } from 'node:http';
import { cloudEvent, http, type CloudEvent, type Request, type Response } from '@google-cloud/functions-framework';
import { buildTokenSet, type TokenSet } from '../shared/auth.js';
import { guardBodies } from './http/body-guard.js';
import { installJsonFinalHandler } from './http/json-final-handler.js';
import { plainClaimToken, serveWarmUpRequests, warmUpRequests } from './http/warm-up-requests.js';
import type { ApiKind, ApiSettings } from './http/api.js';
import { configReady, getApiDeps, getConfig, getLogger, getWorkerDeps, loadConfigModule, warmUp } from './deps.js';

installJsonFinalHandler();

const settings = (): ApiSettings => {
  const c = getConfig();
  return {
    claimTokens: c.claimTokens,
    adminTokens: c.adminTokens,
    project: c.project,
    maxBodyBytes: c.maxBodyBytes,
    retryAfterSeconds: c.emptyRetryAfterSeconds,
    travisAnswerBudgetMs: c.travisAnswerBudgetMs,
  };
};

type HttpHandler = (req: Request, res: Response) => Promise<void>;
let apiModule: Promise<typeof import('./http/api.js')> | null = null;
const loadApi = () => (apiModule ??= import('./http/api.js'));

/**
 * An HTTP function whose handler is built on its first request. The body guard is
 * attached here, at registration, as functions-framework builds its server from it
 * (with the same options createApiHandler gives it).
 */
const apiFunctions = new WeakSet<object>();
/** Builds each API function's handler (its routes and their modules): run by the warm-up. */
const apiBuilders: Array<() => Promise<HttpHandler>> = [];
function lazyApi(kind: ApiKind): HttpHandler {
  let handler: Promise<HttpHandler> | null = null;
  let tokens: TokenSet | null = null;
  const build = () => (handler ??= Promise.all([loadApi(), loadConfigModule()]).then(([m]) => m.createApiHandler(kind, settings, getApiDeps, getLogger)));
  const fn: HttpHandler = async (req, res) => {
    await (
      await build()
    )(req, res);
  };
  apiBuilders.push(build);
  apiFunctions.add(fn);
  return guardBodies(fn, {
    tokens: () => (tokens ??= buildTokenSet(settings().claimTokens, settings().adminTokens)),
    logger: getLogger,
    maxBodyBytes: () => settings().maxBodyBytes,
    ready: configReady,
  });
}

let eventsModule: Promise<typeof import('./events.js')> | null = null;
const loadEvents = () => (eventsModule ??= import('./events.js'));

function lazyEvent(pick: (m: typeof import('./events.js')) => (event: CloudEvent<unknown>) => Promise<unknown>) {
  let handler: Promise<(event: CloudEvent<unknown>) => Promise<unknown>> | null = null;
  return async (event: CloudEvent<unknown>): Promise<void> => {
    handler ??= Promise.all([loadEvents(), loadConfigModule()]).then(([m]) => pick(m));
    await (
      await handler
    )(event);
  };
}

http('claim', lazyApi('claim'));
http('admin', lazyApi('admin'));
http('api', lazyApi('all'));
cloudEvent(
  'reconcile',
  lazyEvent((m) => m.reconcileHandler(getWorkerDeps, getLogger)),
);
cloudEvent(
  'teardown',
  lazyEvent((m) => m.teardownHandler(getWorkerDeps, getLogger)),
);

/** The longest an API function holds its port closed while its claim path is built and run once. */
const WARM_UP_BOUND_MS = 10_000;

/**
 * The API path is built, and the claim's first calls made, right after the import (off
 * it), and an API function's server starts listening once that is done (or after
 * WARM_UP_BOUND_MS): Cloud Run routes no request to an instance before its port accepts
 * (a new service gets a TCP startup probe on its port; "Startup probes determine whether
 * the container has started and is ready to accept traffic":
 * https://cloud.google.com/run/docs/configuring/healthchecks, and the ingress container
 * must listen on its port: https://cloud.google.com/run/docs/container-contract), so the
 * first claim does not wait on module loading or on its clients' first calls. Before it
 * listens on its port the server answers a few requests of its own on a private loopback
 * port (http/warm-up-requests.ts: a path no route serves, nothing read, written or
 * logged), so the first claim does not run the request path for the first time either.
 * functions-framework builds its server with `getServer` (looked up on its module's
 * exports at call time, as body-guard.ts relies on too) and calls `listen` on it right
 * away; that `listen` is deferred here.
 */
function deferListenUntilWarm(): void {
  const require = createRequire(import.meta.url);
  const serverModule = require(join(dirname(require.resolve('@google-cloud/functions-framework')), 'server.js')) as {
    getServer: (fn: unknown, options: unknown) => Server;
  };
  const original = serverModule.getServer;
  serverModule.getServer = function getServer(fn: unknown, options: unknown): Server {
    const server = original(fn, options);
    if (!apiFunctions.has(fn as object)) return server;
    const listen = server.listen.bind(server) as (...args: unknown[]) => Server;
    server.listen = ((...args: unknown[]) => {
      const started = performance.now();
      let bound: ReturnType<typeof setTimeout> | undefined;
      const cap = new Promise<boolean>((resolve) => (bound = setTimeout(() => resolve(false), WARM_UP_BOUND_MS)));
      void Promise.race([warm(), cap])
        .then((ready) => {
          clearTimeout(bound);
          const left = WARM_UP_BOUND_MS - (performance.now() - started);
          const token = ready && left > 0 ? claimTokenForWarmUp() : undefined;
          return token === undefined ? undefined : serveWarmUpRequests(server, listen, warmUpRequests(token), left);
        })
        .catch(() => undefined)
        .then(() => listen(...args));
      return server;
    }) as Server['listen'];
    return server;
  };
}

/**
 * A claim token the warm-up's requests can present (null: they carry no body); undefined
 * when the configuration does not load (then requests would only report it: none is made).
 */
function claimTokenForWarmUp(): string | null | undefined {
  try {
    const s = settings();
    return plainClaimToken(s.claimTokens, buildTokenSet(s.claimTokens, s.adminTokens));
  } catch {
    return undefined;
  }
}

/**
 * functions-framework runs each HTTP request in a domain with an error listener
 * (build/src/function_wrappers.js, wrapHttpFunction). The first domain enables Node's
 * domain async hooks for the whole process, for good, and entering one with an error
 * listener switches the process's uncaught-exception capture: done once here, before the
 * warm-up's calls, so that they run (and V8 optimises their code) as requests will, and
 * the first request does not pay for it.
 */
function enterDomainOnce(): void {
  const d = createDomain();
  d.on('error', () => undefined);
  d.run(() => undefined);
}

let warming: Promise<boolean> | null = null;
/**
 * The API functions' routes and modules, and the claim path's dependencies and first
 * calls (deps.ts); true when the API handlers were built (the configuration loaded). The
 * domain is entered once the modules are loaded (their loading, thousands of promises,
 * would otherwise pay for its async hooks) and before the first calls.
 */
function startWarmUp(): Promise<boolean> {
  const built = Promise.all(apiBuilders.map((b) => b())).then(
    () => true,
    (err: unknown) => {
      try {
        getLogger().warn('warm-up failed; the first request pays for it', {}, err);
      } catch {
        // No configuration: the first request reports it.
      }
      return false;
    },
  );
  const calls = warmUp(async () => {
    if (!(await built)) return;
    enterDomainOnce();
    (await loadApi()).warmBodySchemas();
  });
  return Promise.all([built, calls]).then(([ok]) => ok);
}
const warm = () => (warming ??= startWarmUp());
// Off the import: starts once the importer's own work is done (or when the server listens).
setImmediate(() => void warm());
deferListenUntilWarm();
