/**
 * The status page's routes on the admin function. The page itself (`GET /`, `GET /ui`)
 * is served without a token and holds no data; its data route (`GET /ui/data`) needs an
 * admin token like every other admin route (401 without one, 403 with a claim token).
 */
import type { ApiDeps } from '../../shared/services/deps.js';
import { cachedDashboard } from '../../shared/services/dashboard.js';
import type { Reply, Route } from './router.js';
import { loadStatusPage } from './ui-page.js';

const page = async (): Promise<Reply> => {
  const statusPage = await loadStatusPage();
  return {
    status: 200,
    text: statusPage.html,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': statusPage.csp,
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    },
  };
};

export function uiRoutes(deps: () => Promise<ApiDeps>): Route[] {
  return [
    { method: 'GET', path: '/', auth: 'none', handle: page },
    { method: 'GET', path: '/ui', auth: 'none', handle: page },
    {
      method: 'GET',
      path: '/ui/data',
      auth: 'admin',
      async handle() {
        return { status: 200, body: await cachedDashboard(await deps()), headers: { 'cache-control': 'no-store' } };
      },
    },
  ];
}
