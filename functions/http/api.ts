/**
 * Builds the HTTP handler of an API function from its routes and lazily-built
 * dependencies. Shared by the deployed functions and the local stack.
 */
import type { Request, Response } from '@google-cloud/functions-framework';
import { buildTokenSet, type TokenSet } from '../../shared/auth.js';
import type { Logger } from '../../shared/logging.js';
import type { ApiDeps } from '../../shared/services/deps.js';
import { TRAVIS_ANSWER_BUDGET_MS } from '../../shared/services/claim.js';
import { guardBodies } from './body-guard.js';
import { installJsonFinalHandler } from './json-final-handler.js';
import { createRouter } from './router.js';
import { adminRoutes, claimRoutes } from './routes.js';
import { assignmentRoutes } from './assignment-routes.js';
import { uiRoutes } from './ui-routes.js';
import { openapiRoutes } from './openapi-routes.js';

installJsonFinalHandler();

export { warmBodySchemas } from './routes.js';

export interface ApiSettings {
  claimTokens: string[];
  adminTokens: string[];
  project: string;
  maxBodyBytes: number;
  retryAfterSeconds: number;
  /** How long the Travis route may take to answer (WARMER_TRAVIS_ANSWER_BUDGET_MS); default 4 s. */
  travisAnswerBudgetMs?: number;
}

export type ApiKind = 'claim' | 'admin' | 'all';

export function createApiHandler(
  kind: ApiKind,
  settings: () => ApiSettings,
  deps: () => Promise<ApiDeps>,
  logger: () => Logger,
): (req: Request, res: Response) => Promise<void> {
  const routes = [
    ...(kind !== 'admin' ? claimRoutes(deps, () => settings().travisAnswerBudgetMs ?? TRAVIS_ANSWER_BUDGET_MS) : []),
    ...(kind !== 'admin' ? assignmentRoutes(deps) : []),
    ...(kind !== 'claim' ? adminRoutes(deps) : []),
    ...openapiRoutes(),
  ];
  if (kind !== 'claim') routes.push(...uiRoutes(deps));
  let tokens: TokenSet | null = null;
  const tokenSet = () => (tokens ??= buildTokenSet(settings().claimTokens, settings().adminTokens));
  const handler = createRouter(routes, {
    tokens: tokenSet,
    logger,
    project: () => settings().project,
    maxBodyBytes: () => settings().maxBodyBytes,
    retryAfterSeconds: () => settings().retryAfterSeconds,
  });
  // Bodies are read by warmer, before functions-framework's body-parser (body-guard.ts).
  return guardBodies(handler, { tokens: tokenSet, logger, maxBodyBytes: () => settings().maxBodyBytes });
}
