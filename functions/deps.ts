/**
 * The deployed functions' dependencies: built once per instance, lazily, from the
 * environment (shared/config.ts is the only reader of process.env). The configuration
 * module (and zod, its validator), the adapters and their SDKs (compose.ts) are imported
 * on first use or by the warm-up, not with the entry point.
 */
import type { Config } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/logging.js';
import type { ApiDeps } from '../shared/services/deps.js';
import type { Clients, WorkerDeps } from './compose.js';

let configModule: typeof import('../shared/config.js') | null = null;
let configLoading: Promise<void> | null = null;
let config: Config | null = null;
let logger: Logger | null = null;
let clients: Promise<{ compose: typeof import('./compose.js'); clients: Clients }> | null = null;
let apiDeps: Promise<ApiDeps> | null = null;
let workerDeps: Promise<WorkerDeps> | null = null;

/** Imports the configuration module; getConfig works once it has resolved. */
export const loadConfigModule = (): Promise<void> =>
  (configLoading ??= import('../shared/config.js').then((m) => {
    configModule = m;
  }));
/** null once the configuration module is loaded, else the promise of its import. */
export const configReady = (): Promise<void> | null => (configModule ? null : loadConfigModule());
/** The configuration (read and checked on first use); throws before loadConfigModule has resolved. */
export const getConfig = (): Config => {
  if (!configModule) throw new Error('the configuration module is not loaded yet: await loadConfigModule() first');
  return (config ??= configModule.loadConfig());
};
export const getLogger = (): Logger => (logger ??= createLogger({ minSeverity: getConfig().logLevel }));
const getClients = () =>
  (clients ??= Promise.all([import('./compose.js'), loadConfigModule()]).then(([compose]) => ({
    compose,
    clients: compose.createClients(getConfig(), getLogger()),
  })));

export function getApiDeps(): Promise<ApiDeps> {
  return (apiDeps ??= getClients().then(({ compose, clients }) => compose.buildApiDeps(clients, getLogger())));
}

export function getWorkerDeps(): Promise<WorkerDeps> {
  return (workerDeps ??= getClients().then(({ compose, clients }) => compose.buildWorkerDeps(getConfig(), clients, getLogger())));
}

/**
 * Prepares the claim path ahead of the first request: imports its modules, builds its
 * dependencies, then makes the claim's first calls (compose.ts warmClients: the candidate
 * query, a transaction whose commit writes nothing, the publisher's client, the codecs of
 * a served claim's messages) and reads the pools into the claim's pool cache
 * (warmApiDeps: one read per pool), so that the first claim finds its clients, protos,
 * channels and pool ready. Started right after the entry
 * point is imported, off the import itself; a request that arrives first awaits the same
 * promises, so nothing is built twice. A failure (no credentials, a store unreachable) is
 * only logged: the request path builds and reports the same things itself. `beforeCalls`
 * runs once the modules are loaded, before the first call.
 */
export function warmUp(beforeCalls: () => Promise<void> | void = () => undefined): Promise<void> {
  return getApiDeps()
    .then(() => getClients())
    .then(async ({ compose, clients }) => {
      await beforeCalls();
      await compose.warmClients(clients, getConfig());
      await compose.warmApiDeps(await getApiDeps());
    })
    .then(
      () => undefined,
      (err: unknown) => {
        try {
          getLogger().warn('warm-up failed; the first request pays for it', {}, err);
        } catch {
          // No configuration: the first request reports it.
        }
      },
    );
}
