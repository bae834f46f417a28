/**
 * Issue 9: careless and hostile clients, through the real functions-framework stack over
 * the in-memory store. Every route against hostile bodies and credentials; a client that
 * hangs up mid-claim; a refill publish that hangs or fails; the Travis route's keys and
 * budget; small holes (lone surrogates, `__proto__`/`constructor` labels, HEAD, the log
 * severity of an empty pool).
 */
import { gzipSync } from 'node:zlib';
import { request } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryInstanceStore, MemoryPoolStore } from '../../shared/adapters/memory-store.js';
import { ConfigError, loadConfig } from '../../shared/config.js';
import { memoryLogger } from '../../shared/logging.js';
import type { ApiDeps } from '../../shared/services/deps.js';
import { createApiHandler } from '../../functions/http/api.js';
import { FakePublisher } from '../support/fake-publisher.js';
import { record, spec } from '../support/builders.js';
import { call, serveFunction } from '../support/http.js';

const CLAIM = 'claim-token-0123456789';
const ADMIN = 'admin-token-0123456789';
const LIMIT = 4096;

let deps: ApiDeps & { instances: MemoryInstanceStore; pools: MemoryPoolStore; publisher: FakePublisher };
let server: { url: string; close(): Promise<void> };
let now = 1_700_000_000_000;
let travisBudgetMs = 4000;
let logger = memoryLogger();

beforeAll(async () => {
  const handler = createApiHandler(
    'all',
    () => ({ claimTokens: [CLAIM], adminTokens: [ADMIN], project: 'p', maxBodyBytes: LIMIT, retryAfterSeconds: 7, travisAnswerBudgetMs: travisBudgetMs }),
    async () => deps,
    () => logger,
  );
  server = await serveFunction(handler);
});
afterAll(async () => server.close());

const travisBody = {
  image_name: 'https://www.googleapis.com/compute/v1/projects/eco/global/images/travis-ci-garnet-trusty',
  machine_type: 'https://www.googleapis.com/compute/v1/projects/eco/zones/us-central1-a/machineTypes/n1-standard-2',
  public_ip: true,
};
const travisSpec = { image: 'projects/eco/global/images/travis-ci-garnet-trusty', machineType: 'n1-standard-2', publicIp: true, targetReady: 1 };
const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`worker:${password}`).toString('base64')}` });
const KEY = '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n...';

beforeEach(async () => {
  logger = memoryLogger();
  travisBudgetMs = 4000;
  deps = { instances: new MemoryInstanceStore(), pools: new MemoryPoolStore(), publisher: new FakePublisher(), clock: { now: () => now }, logger };
  await deps.pools.putPool('ci', spec({ targetReady: 3 }), now);
  for (let i = 0; i < 3; i++) await deps.instances.create(record({ pool: 'ci', state: 'ready', at: now - 10_000 + i }));
  await deps.pools.putPool('travis', spec({ ...travisSpec, perMachineSshKeys: true, claimLifetimeSeconds: 7200 }), now);
  const t = record({ pool: 'travis', state: 'ready' });
  t.publicIp = '127.1.2.3';
  t.sshPrivateKeyEncrypted = KEY;
  await deps.instances.create(t);
});

const api = (method: string, path: string, opts: Parameters<typeof call>[3] = {}) => call(server.url, method, path, opts);

/** Like `api` with a raw body, over node:http (fetch refuses a body on GET). */
function raw(method: string, path: string, body: string | Buffer, headers: Record<string, string>): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const url = new URL(server.url);
    const req = request(
      { host: url.hostname, port: url.port, path, method, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode!, json: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Every route of the `api` function; `body` marks the routes that read one. */
const ROUTES: Array<{ method: string; path: string; body: boolean }> = [
  { method: 'POST', path: '/claim', body: true },
  { method: 'POST', path: '/request-instance', body: true },
  { method: 'PUT', path: '/pools/ci', body: true },
  { method: 'GET', path: '/instances/ci-x', body: false },
  { method: 'DELETE', path: '/instances/ci-x', body: false },
  { method: 'GET', path: '/pools', body: false },
  { method: 'GET', path: '/pools/ci', body: false },
  { method: 'DELETE', path: '/pools/ci', body: false },
  { method: 'GET', path: '/status', body: false },
  { method: 'GET', path: '/', body: false },
  { method: 'GET', path: '/ui', body: false },
  { method: 'GET', path: '/ui/data', body: false },
  { method: 'GET', path: '/openapi.json', body: false },
];

async function unchanged() {
  expect((await deps.instances.countByState('ci')).ready).toBe(3);
  expect((await deps.pools.getPool('ci'))!.spec.enabled).toBe(true);
}

describe('hostile input on every route', () => {
  const json = { 'content-type': 'application/json' };
  it.each(ROUTES)('$method $path: a body needs a valid token (401, unread), a size within the limit (413), no encoding (415)', async (r) => {
    const small = JSON.stringify({ pool: 'ci' });
    for (const headers of [{}, { authorization: 'Bearer not-a-token-at-all' }, basic('wrong-wrong-wrong')]) {
      const res = await raw(r.method, r.path, small, { ...json, ...headers });
      expect(res.status).toBe(401);
      expect(res.json.error.code).toBe('unauthorized');
    }
    const bearer = { authorization: `Bearer ${ADMIN}` };
    const big = await raw(r.method, r.path, JSON.stringify({ pool: 'ci', assignee: 'x'.repeat(LIMIT) }), { ...json, ...bearer });
    expect([big.status, big.json.error.code]).toEqual([413, 'payload_too_large']);
    const gz = await raw(r.method, r.path, gzipSync(small), { ...json, ...bearer, 'content-encoding': 'gzip' });
    expect([gz.status, gz.json.error.code]).toEqual([415, 'unsupported_media_type']);
    const bad = await raw(r.method, r.path, '{"pool": ', { ...json, ...bearer });
    expect([bad.status, bad.json.error.code]).toEqual([400, 'bad_request']);
    await unchanged();
  });

  it.each(ROUTES.filter((r) => r.body))('$method $path: wrong content type → 415, bad JSON → 400, a lone surrogate → 400', async (r) => {
    const text = await api(r.method, r.path, { token: ADMIN, rawBody: 'pool=ci', headers: { 'content-type': 'text/plain' } });
    expect([text.status, text.json.error.code]).toEqual([415, 'unsupported_media_type']);
    const form = await api(r.method, r.path, { token: ADMIN, rawBody: 'pool=ci', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    const bad = await api(r.method, r.path, { token: ADMIN, rawBody: '{"pool": "ci"', headers: json });
    expect(bad.status).toBe(400);
    for (const raw of ['{"pool":"ci","assignee":"\\ud800"}', '{"pool":"ci","labels":{"\\udfff":"x"}}']) {
      const lone = await api(r.method, r.path, { token: ADMIN, rawBody: raw, headers: json });
      expect(lone.status).toBe(400);
      expect(lone.json.error.message).toMatch(/surrogate/);
    }
    const latin1 = await api(r.method, r.path, { token: ADMIN, rawBody: '{"pool":"ci"}', headers: { 'content-type': 'application/json; charset=latin1' } });
    expect(latin1.status).toBe(415);
    await unchanged();
  });

  it('a chunked body without Content-Length is cut at the limit (413)', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(server.url);
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: '/claim',
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${CLAIM}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 8; i++) req.write(' '.repeat(1024));
      req.end();
    });
    expect(status).toBe(413);
    await unchanged();
  });

  it('an assignee with a lone surrogate is a 400, refused before any claim', async () => {
    const res = await api('POST', '/claim', { token: CLAIM, rawBody: '{"pool":"ci","assignee":"\\ud800"}', headers: json });
    expect(res.status).toBe(400);
    // A well-formed pair is fine.
    const ok = await api('POST', '/claim', { token: CLAIM, rawBody: '{"pool":"ci","assignee":"\\ud83d\\ude00"}', headers: json });
    expect(ok.status).toBe(200);
    expect(ok.json.instances[0].assignee).toBe('😀');
  });
});

describe('labels', () => {
  it('`constructor` is a valid Compute Engine label key and is kept', async () => {
    const res = await api('POST', '/claim', {
      token: CLAIM,
      rawBody: '{"pool":"ci","labels":{"constructor":"x","team":"infra"}}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    const stored = await deps.instances.get(res.json.instances[0].name);
    expect(Object.entries(stored!.claim!.labels)).toEqual([
      ['constructor', 'x'],
      ['team', 'infra'],
    ]);
  });

  it.each(['__proto__', '_x', 'Team', 'toString'])('the key %s is refused with a message that names it', async (key) => {
    const res = await api('POST', '/claim', {
      token: CLAIM,
      rawBody: `{"pool":"ci","labels":{${JSON.stringify(key)}:"x"}}`,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expect(res.json.error.details).toEqual([expect.objectContaining({ path: `labels.${key}`, message: expect.stringContaining(`"${key}"`) })]);
    await unchanged();
  });

  it('at most 16 labels; labels must be an object', async () => {
    const labels = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    expect((await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci', labels } })).status).toBe(400);
    expect((await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci', labels: ['a'] } })).status).toBe(400);
    await unchanged();
  });
});

describe('HEAD', () => {
  it.each([
    ['/pools', ADMIN, 200],
    ['/status', ADMIN, 200],
    ['/openapi.json', undefined, 200],
    ['/ui', undefined, 200],
    ['/pools', undefined, 401],
  ])('HEAD %s is answered like GET, without a body', async (path, token, status) => {
    const res = await api('HEAD', path, token ? { token } : {});
    expect(res.status).toBe(status);
    expect(res.text).toBe('');
  });

  it('the status page answers at //ui too (its script then fetches /ui/data on this origin)', async () => {
    const res = await api('GET', '//ui');
    expect(res.status).toBe(200);
    expect(res.text).toContain('function dataUrl(pathname, origin)');
  });

  it('HEAD where only POST exists → 405 with Allow', async () => {
    const res = await api('HEAD', '/claim', { token: CLAIM });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });
});

describe('log severity', () => {
  it('an empty pool is a WARNING without a stack trace; nothing is logged at ERROR', async () => {
    const res = await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci', count: 4 } });
    expect(res.status).toBe(503);
    const entry = logger.entries.find((e) => e.message === 'request not served');
    expect(entry).toMatchObject({ severity: 'WARNING', status: 503, code: 'pool_empty' });
    expect(logger.entries.filter((e) => e.severity === 'ERROR')).toEqual([]);
    expect(logger.entries.filter((e) => 'stack_trace' in e)).toEqual([]);
  });

  it('a real fault is an ERROR with a stack trace and a generic 500', async () => {
    deps.instances.claim = async () => {
      throw new Error('disk on fire');
    };
    const res = await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci' } });
    expect(res.status).toBe(500);
    expect(res.json.error).toEqual({ code: 'internal', message: 'internal error' });
    const entry = logger.entries.find((e) => e.message === 'request failed');
    expect(entry).toMatchObject({ severity: 'ERROR', error: 'disk on fire' });
    expect(entry!.stack_trace).toMatch(/disk on fire/);
  });

  it('a refused body is logged at INFO, without the token', async () => {
    await api('POST', '/claim', { rawBody: '{}', headers: { 'content-type': 'application/json', authorization: 'Bearer secret-looking-token-123' } });
    const entry = logger.entries.find((e) => e.message === 'request refused');
    expect(entry).toMatchObject({ severity: 'INFO', status: 401, code: 'unauthorized' });
    expect(JSON.stringify(logger.entries)).not.toContain('secret-looking-token-123');
  });
});

describe('a client that hangs up', () => {
  /** Holds every store claim until `open()`; `entered` resolves when one is waiting. */
  function gateClaims() {
    const claim = deps.instances.claim.bind(deps.instances);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let entered!: () => void;
    const waiting = new Promise<void>((r) => (entered = r));
    deps.instances.claim = async (req) => {
      entered();
      await gate;
      return claim(req);
    };
    return { open, waiting };
  }

  it.each([
    ['POST /claim', '/claim', { pool: 'ci' }, 'ci', {}],
    ['POST /request-instance', '/request-instance', travisBody, 'travis', basic(CLAIM)],
  ])('%s: a client that disconnects mid-claim leaves the machine released (client_gone), not claimed', async (_n, path, body, pool, headers) => {
    const { open, waiting } = gateClaims();
    const abort = new AbortController();
    const pending = fetch(server.url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(path === '/claim' ? { authorization: `Bearer ${CLAIM}` } : {}), ...headers },
      body: JSON.stringify(body),
      signal: abort.signal,
    }).catch((err: Error) => err);
    await waiting;
    abort.abort();
    expect(await pending).toBeInstanceOf(Error);
    await new Promise((r) => setTimeout(r, 100)); // the server sees the socket close
    open();
    const deadline = Date.now() + 5_000;
    while ((await deps.instances.listByPool(pool, ['claimed'])).length > 0 || deps.publisher.teardowns.length === 0) {
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const records = await deps.instances.listByPool(pool);
    expect(records.filter((r) => r.state === 'claimed')).toEqual([]);
    const released = records.filter((r) => r.state === 'deleting');
    expect(released.map((r) => r.reason)).toEqual(['client_gone']);
    expect(deps.publisher.teardowns.map((t) => [t.instance, t.reason])).toEqual([[released[0]!.name, 'client_gone']]);
    expect(logger.entries.find((e) => e.message === 'client went away before the answer; machines released')).toMatchObject({ severity: 'WARNING', pool });
  });

  it('a client that stays gets its machine (the gate alone changes nothing)', async () => {
    const { open, waiting } = gateClaims();
    const pending = api('POST', '/claim', { token: CLAIM, body: { pool: 'ci' } });
    await waiting;
    open();
    const res = await pending;
    expect(res.status).toBe(200);
    expect((await deps.instances.get(res.json.instances[0].name))!.state).toBe('claimed');
  });
});

describe('the refill publish is off the answer path', () => {
  it.each([
    ['hangs', () => new Promise<void>(() => {})],
    ['fails', async () => Promise.reject(new Error('pubsub unreachable'))],
    [
      'throws synchronously',
      () => {
        throw new Error('pubsub client broken');
      },
    ],
  ])('a publisher that %s: POST /claim and /request-instance answer 200 at once', async (_n, publish) => {
    deps.publisher.publishRefill = publish as never;
    const t0 = performance.now();
    const claim = await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci' } });
    const travis = await api('POST', '/request-instance', { body: travisBody, headers: basic(CLAIM) });
    const ms = performance.now() - t0;
    expect([claim.status, travis.status]).toEqual([200, 200]);
    expect(travis.json.ssh_private_key).toBe(KEY);
    expect(ms).toBeLessThan(1500);
    expect((await deps.instances.get(claim.json.instances[0].name))!.state).toBe('claimed');
    expect((await deps.instances.get(travis.json.name))!.state).toBe('claimed');
  });

  it('a failed publish is logged at WARNING (no stack trace), after the answer', async () => {
    deps.publisher.failNext = 1;
    expect((await api('POST', '/claim', { token: CLAIM, body: { pool: 'ci' } })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 20));
    const entry = logger.entries.find((e) => e.message === 'refill request not published; reconcile catches up');
    expect(entry).toMatchObject({ severity: 'WARNING', pool: 'ci', reason: 'claimed', error: 'publish failed (injected)' });
    expect(entry).not.toHaveProperty('stack_trace');
  });
});

describe('POST /request-instance: keys and budget', () => {
  it('a pool without per-machine keys never serves the worker: 404, and the log says why', async () => {
    await deps.pools.putPool('travis', spec({ ...travisSpec, perMachineSshKeys: false }), now);
    const res = await api('POST', '/request-instance', { body: travisBody, headers: basic(CLAIM) });
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ error: 'no config found for pool' });
    const entry = logger.entries.find((e) => e.message === 'travis request matched no pool');
    expect(entry!.reason).toMatch(/travis.*per-machine SSH keys/);
    expect(await deps.instances.listByPool('travis', ['ready'])).toHaveLength(1);
  });

  it("a keyed pool's machine without a key is released (no_key), never answered with an empty key", async () => {
    const [t] = await deps.instances.listByPool('travis');
    await deps.instances.transition(t!.name, ['ready'], 'deleting', now, { reason: 'test' });
    await deps.instances.create(record({ pool: 'travis', state: 'ready' }));
    const res = await api('POST', '/request-instance', { body: travisBody, headers: basic(CLAIM) });
    expect(res.status).toBe(409);
    expect(res.json).toEqual({ error: 'no instance available in pool' });
    const reasons = (await deps.instances.listByPool('travis')).map((r) => r.reason).sort();
    expect(reasons).toEqual(['no_key', 'test']);
    expect(logger.entries.find((e) => e.message === 'travis request found no ready machine')!.reason).toMatch(/per-machine SSH keys/);
  });

  it('the answer budget is configurable: a claim that takes 1.5 s is late for a 1 s budget', async () => {
    travisBudgetMs = 1000;
    const claim = deps.instances.claim.bind(deps.instances);
    deps.instances.claim = async (req) => {
      const out = await claim(req);
      now += 1500;
      return out;
    };
    const res = await api('POST', '/request-instance', { body: travisBody, headers: basic(CLAIM) });
    expect(res.status).toBe(409);
    expect((await deps.instances.listByPool('travis')).map((r) => [r.state, r.reason])).toEqual([['deleting', 'answer_late']]);
  });

  it('WARMER_TRAVIS_ANSWER_BUDGET_MS: default 4000, validated with the other variables', () => {
    expect(loadConfig({ WARMER_PROJECT: 'p' }).travisAnswerBudgetMs).toBe(4000);
    expect(loadConfig({ WARMER_PROJECT: 'p', WARMER_TRAVIS_ANSWER_BUDGET_MS: '2500' }).travisAnswerBudgetMs).toBe(2500);
    for (const bad of ['soon', '0', '99', '1.5', '999999']) {
      expect(() => loadConfig({ WARMER_PROJECT: 'p', WARMER_TRAVIS_ANSWER_BUDGET_MS: bad })).toThrow(ConfigError);
    }
    try {
      loadConfig({ WARMER_TRAVIS_ANSWER_BUDGET_MS: 'soon' });
    } catch (err) {
      // Reported with the other problems at once.
      expect((err as ConfigError).problems.some((p) => p.startsWith('WARMER_TRAVIS_ANSWER_BUDGET_MS'))).toBe(true);
    }
  });
});

describe('PUT /pools/{name} warnings', () => {
  const keyed = {
    image: 'projects/eco/global/images/travis-ci-garnet-trusty',
    machineType: 'n1-standard-2',
    zones: ['us-central1-a'],
    targetReady: 1,
    maxSize: 2,
    perMachineSshKeys: true,
  };
  it('a keyed pool with neither a claim lifetime nor a max run duration is accepted with a warning, logged', async () => {
    const res = await api('PUT', '/pools/tw', { token: ADMIN, body: keyed });
    expect(res.status).toBe(201);
    expect(res.json.warnings).toEqual([expect.stringMatching(/claimLifetimeSeconds.*maxRunDurationSeconds/)]);
    expect(logger.entries.find((e) => e.message === 'pool accepted with a warning')).toMatchObject({ severity: 'WARNING', pool: 'tw' });
  });

  it.each([
    ['a claim lifetime', { ...keyed, claimLifetimeSeconds: 7200 }],
    ['a max run duration', { ...keyed, maxRunDurationSeconds: 86_400 }],
    ['no keys (not a Travis pool)', { ...keyed, perMachineSshKeys: false }],
  ])('no warning with %s', async (_n, body) => {
    const res = await api('PUT', '/pools/tw', { token: ADMIN, body });
    expect(res.status).toBe(201);
    expect(res.json).not.toHaveProperty('warnings');
  });
});
