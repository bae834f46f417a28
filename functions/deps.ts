/**
 * The deployed functions' dependencies: built once per instance, lazily, from the
 * environment (shared/config.ts is the only reader of process.env).
 */
import { loadConfig, type Config } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/logging.js';
import type { ApiDeps } from '../shared/services/deps.js';
import { buildApiDeps, buildWorkerDeps, createClients, type Clients, type WorkerDeps } from './compose.js';

let config: Config | null = null;
let logger: Logger | null = null;
let clients: Clients | null = null;
let apiDeps: ApiDeps | null = null;
let workerDeps: Promise<WorkerDeps> | null = null;

export const getConfig = (): Config => (config ??= loadConfig());
export const getLogger = (): Logger => (logger ??= createLogger({ minSeverity: getConfig().logLevel }));
const getClients = (): Clients => (clients ??= createClients(getConfig(), getLogger()));

export async function getApiDeps(): Promise<ApiDeps> {
  return (apiDeps ??= buildApiDeps(getClients(), getLogger()));
}

export function getWorkerDeps(): Promise<WorkerDeps> {
  return (workerDeps ??= buildWorkerDeps(getConfig(), getClients(), getLogger()));
}
