/**
 * The entry point: registers every function with functions-framework. No decisions here.
 *
 *   claim      HTTP      POST /claim, GET|DELETE /instances/{name}, POST /request-instance
 *   admin      HTTP      /pools, /pools/{name}, /status
 *   api        HTTP      both of the above behind one URL (the local stack)
 *   reconcile  Pub/Sub   refill requests and the scheduler's tick
 *   teardown   Pub/Sub   teardown requests
 */
import { cloudEvent, http } from '@google-cloud/functions-framework';
import { createApiHandler, type ApiSettings } from './http/api.js';
import { getApiDeps, getConfig, getLogger, getWorkerDeps } from './deps.js';
import { reconcileHandler, teardownHandler } from './events.js';

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

http('claim', createApiHandler('claim', settings, getApiDeps, getLogger));
http('admin', createApiHandler('admin', settings, getApiDeps, getLogger));
http('api', createApiHandler('all', settings, getApiDeps, getLogger));
cloudEvent('reconcile', reconcileHandler(getWorkerDeps, getLogger));
cloudEvent('teardown', teardownHandler(getWorkerDeps, getLogger));
