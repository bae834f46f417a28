/**
 * The status page in a real browser: a local stack (embedded Firestore, Pub/Sub, Compute
 * Engine with real local machines), a pool with target 2, a served claim, a missed claim
 * and a release; then headless Chromium (Debian's, driven by playwright-core) checks that
 * the page holds no data without an admin token, shows the pool with an admin token, and
 * refreshes by itself. Screenshots go to /tmp for a person to look at.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { memoryLogger } from '../../shared/logging.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const CLAIM = 'claim-token-status-page-0123';
const ADMIN = 'admin-token-status-page-0123';
const POOL = 'status-demo';
const SIZED = 'sized-demo';
export const SCREENSHOT = '/tmp/warmer-status-page.png';
export const SCREENSHOT_PROMPT = '/tmp/warmer-status-page-token.png';

const haveChromium = existsSync(CHROMIUM);
const inCi = process.env.CI === 'true' || process.env.CI === '1';

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function api(stack: LocalStack, method: string, path: string, token: string | null, body?: unknown) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(stack.apiUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const countOnPage = (page: Page, state: string) => page.locator(`[data-pool="${POOL}"] li[data-state="${state}"] .n`).textContent();

if (!haveChromium && !inCi) {
  describe.skip(`status page in Chromium (skipped: ${CHROMIUM} is missing; apt-get install chromium)`, () => {
    it('needs Chromium', () => {});
  });
} else if (!haveChromium) {
  describe('status page in Chromium', () => {
    it('needs Chromium', () => {
      throw new Error(
        `Chromium is missing at ${CHROMIUM}: CI must install Debian's chromium package (.ci/run does) so the status page can be tested in a browser`,
      );
    });
  });
} else {
  describe('status page in Chromium', () => {
    let stack: LocalStack;
    let browser: Browser;
    let released = '';

    beforeAll(async () => {
      stack = await startLocalStack({
        claimTokens: [CLAIM],
        adminTokens: [ADMIN],
        pools: {
          [POOL]: {
            image: 'projects/debian-cloud/global/images/family/debian-12',
            machineType: 'e2-small',
            zones: ['us-central1-a'],
            targetReady: 2,
            maxSize: 5,
            healthCheck: { port: 2222 },
          },
          // A demand-sized pool: its card shows the computed target and why.
          [SIZED]: {
            image: 'projects/debian-cloud/global/images/family/debian-12',
            machineType: 'e2-small',
            zones: ['us-central1-a'],
            targetReady: 0,
            maxSize: 3,
            healthCheck: { port: 2222 },
            sizing: { mode: 'demand', warmHitTarget: 0.9, minReady: 1, maxReady: 3 },
          },
        },
        bootDelayMs: 300,
        bootJitterMs: 100,
        operationDelayMs: 20,
        scheduleMs: 500,
        addressBase: '127.70.0.1',
        bootWatch: { budgetMs: 10_000, intervalMs: 150 },
        logger: memoryLogger(),
      });
      await until('the pool to fill', async () => (await stack.api.instances.countByState(POOL)).ready >= 2);
      // A claim served warm, a claim that cannot be served (more than the pool can hold), a release.
      const hit = await api(stack, 'POST', '/claim', CLAIM, { pool: POOL, assignee: 'ada@example.com' });
      expect(hit.status).toBe(200);
      released = hit.json.instances[0].name;
      const miss = await api(stack, 'POST', '/claim', CLAIM, { pool: POOL, count: 5 });
      expect(miss.status).toBe(503);
      expect((await api(stack, 'DELETE', `/instances/${released}`, CLAIM)).status).toBe(202);
      await until('the released machine to be deleted', async () => (await stack.api.instances.get(released))?.state === 'deleted');
      await until('the pool to refill', async () => (await stack.api.instances.countByState(POOL)).ready >= 2);
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await stack?.stop();
    });

    it('the page needs no token but holds no data; the data route needs an admin token', async () => {
      for (const path of ['/', '/ui']) {
        const res = await api(stack, 'GET', path, null);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/html/);
        expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
        expect(res.text).toContain('Admin token required');
        expect(res.text).not.toContain(POOL);
        expect(res.text).not.toContain(released);
      }
      const none = await api(stack, 'GET', '/ui/data', null);
      expect(none.status).toBe(401);
      expect(none.text).not.toContain(POOL);
      expect((await api(stack, 'GET', '/ui/data', 'not-a-token-at-all')).status).toBe(401);
      expect((await api(stack, 'GET', '/ui/data', CLAIM)).status).toBe(403);
      const ok = await api(stack, 'GET', '/ui/data', ADMIN);
      expect(ok.status).toBe(200);
      const pool = ok.json.pools.find((p: { name: string }) => p.name === POOL);
      expect(pool).toMatchObject({ targetReady: 2, maxSize: 5, claims: { hits: 1, misses: 1 } });
      expect(pool.teardowns[0]).toMatchObject({ instance: released, reason: 'released' });
    });

    it('asks for the token, refuses bad ones, then shows the pool and refreshes by itself', async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
      page.on('console', (msg) => {
        // The refused tokens' 401/403 are expected; anything else (a CSP violation, a script error) is not.
        if (msg.type() === 'error' && !/status of 40[13]/.test(msg.text())) problems.push(`console: ${msg.text()}`);
      });
      const dataRequests: string[] = [];
      page.on('request', (req) => {
        if (!req.url().startsWith(stack.apiUrl)) problems.push(`request off the server: ${req.url()}`);
        if (req.url().endsWith('/ui/data')) dataRequests.push(req.url());
      });

      // 1. No token: the prompt, and no pool data anywhere on the page.
      await page.goto(`${stack.apiUrl}/ui`);
      await page.locator('#auth').waitFor({ state: 'visible' });
      expect(await page.locator('#auth h2').textContent()).toBe('Admin token required');
      expect(await page.locator('[data-pool]').count()).toBe(0);
      expect(await page.locator('body').textContent()).not.toContain(POOL);
      expect(dataRequests).toEqual([]);
      await page.screenshot({ path: SCREENSHOT_PROMPT });

      // 2. A wrong token and a claim token are refused and forgotten.
      await page.fill('#token', 'wrong-token-wrong-token');
      await page.click('#token-form button[type=submit]');
      await expect.poll(() => page.locator('#auth-msg').textContent()).toContain('refused that token (401');
      expect(await page.locator('[data-pool]').count()).toBe(0);
      await page.fill('#token', CLAIM);
      await page.click('#token-form button[type=submit]');
      await expect.poll(() => page.locator('#auth-msg').textContent()).toContain('(403, not an admin token)');
      expect(await page.evaluate('sessionStorage.getItem("warmer.adminToken")')).toBeNull();

      // 3. The admin token: the pool, its counts by state, the claims chart, the teardown.
      await page.fill('#token', ADMIN);
      await page.click('#token-form button[type=submit]');
      const card = page.locator(`[data-pool="${POOL}"]`);
      await card.waitFor({ state: 'visible' });
      expect(await page.locator('#auth').isHidden()).toBe(true);
      expect(await card.locator('h2').textContent()).toBe(POOL);
      expect(await card.locator('.spec').textContent()).toContain('target 2 ready · max 5');
      const sized = page.locator(`[data-pool="${SIZED}"]`);
      await expect.poll(() => sized.locator('.spec').textContent(), { timeout: 12_000 }).toContain('target 1 ready (demand sizing) · max 3');
      expect(await sized.locator('.sizing').textContent()).toMatch(/^why 1: bounded by minReady · model 0 · .*min 1 · max 3$/);
      expect(await card.locator('.sizing').count()).toBe(0);
      for (const state of ['creating', 'booting', 'ready', 'claimed', 'unhealthy', 'failed', 'deleting', 'deleted']) {
        expect(await countOnPage(page, state)).toMatch(/^\d+$/);
      }
      expect(await countOnPage(page, 'claimed')).toBe('0');
      expect(Number(await countOnPage(page, 'deleted'))).toBeGreaterThanOrEqual(1);
      // What the page shows is what the store holds (allowing a refresh to catch up).
      await expect
        .poll(async () => (await countOnPage(page, 'ready')) === String((await stack.api.instances.countByState(POOL)).ready), { timeout: 12_000 })
        .toBe(true);

      const chart = card.locator('svg[data-chart="claims"]');
      expect(await chart.getAttribute('aria-label')).toBe('claims per 5 minutes: 1 warm, 1 missed');
      expect(await chart.locator('text[data-legend="warm"]').textContent()).toBe('warm 1');
      expect(await chart.locator('text[data-legend="missed"]').textContent()).toBe('missed 1');
      expect(await chart.locator('rect[data-series="warm"]').count()).toBe(1);
      expect(await chart.locator('rect[data-series="missed"]').count()).toBe(1);
      expect(await chart.locator('text[data-series="warm"]').textContent()).toBe('1');
      expect(await card.locator('[data-hits]').textContent()).toBe('1');
      expect(await card.locator('[data-misses]').textContent()).toBe('1');
      expect(await card.locator('svg[data-chart="states"]').count()).toBe(1);
      expect(await card.locator('[data-panel="ready"] .summary').textContent()).toMatch(/^p50 .+ · p90 .+ · \d+ machines?$/);
      expect(await card.locator('svg[data-chart="ready"] circle').count()).toBeGreaterThanOrEqual(2);
      // The p50 and p90 labels stay readable when the two are close (local boots are alike).
      const ready = card.locator('svg[data-chart="ready"]');
      const p50 = await ready.locator('text', { hasText: /^p50 / }).boundingBox();
      const p90 = await ready.locator('text', { hasText: /^p90 / }).boundingBox();
      expect(p50 && p90).toBeTruthy();
      const apart = p50!.x + p50!.width <= p90!.x || p90!.x + p90!.width <= p50!.x || p50!.y + p50!.height <= p90!.y || p90!.y + p90!.height <= p50!.y;
      expect(apart).toBe(true);

      const row = card.locator('[data-panel="teardowns"] tbody tr', { hasText: released });
      expect(await row.count()).toBe(1);
      expect(await row.locator('td.reason').textContent()).toBe('released');

      // 4. It refreshes by itself: claim another machine; the page follows without a reload.
      await page.evaluate('window.__sameDocument = 42');
      const before = dataRequests.length;
      const second = await api(stack, 'POST', '/claim', CLAIM, { pool: POOL });
      expect(second.status).toBe(200);
      await expect.poll(() => countOnPage(page, 'claimed'), { timeout: 15_000 }).toBe('1');
      // The claimed machines' section lists it with its pool, age and expiry.
      const claimedRow = page.locator(`#assignments tr[data-instance="${second.json.instances[0].name}"]`);
      await expect.poll(() => claimedRow.count(), { timeout: 15_000 }).toBe(1);
      const cells = await claimedRow.locator('td').allTextContents();
      expect(cells[1]).toBe(POOL);
      expect(cells[3]).toMatch(/^\d+(\.\d)? s$|min/);
      expect(cells[4]).toMatch(/^never$|^in /);
      await expect
        .poll(
          () =>
            chart
              .locator('text[data-legend="warm"]')
              .textContent()
              .catch(() => null),
          { timeout: 15_000 },
        )
        .toBe('warm 2');
      expect(await card.locator('svg[data-chart="claims"]').getAttribute('aria-label')).toBe('claims per 5 minutes: 2 warm, 1 missed');
      expect(await page.evaluate('window.__sameDocument')).toBe(42);
      expect(dataRequests.length).toBeGreaterThan(before);
      expect(await page.locator('#meta').textContent()).toMatch(/^Updated \d\d:\d\d:\d\d · refreshes every 5 s$/);

      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      // 5. The token lives in this tab's session: a reload keeps it; "Forget token" drops it.
      await page.reload();
      await page.locator(`[data-pool="${POOL}"]`).waitFor({ state: 'visible' });
      await page.click('#forget');
      await page.locator('#auth').waitFor({ state: 'visible' });
      expect(await page.locator('[data-pool]').count()).toBe(0);
      expect(await page.evaluate('sessionStorage.getItem("warmer.adminToken")')).toBeNull();

      expect(problems).toEqual([]);
      await context.close();
    }, 90_000);
  });
}
