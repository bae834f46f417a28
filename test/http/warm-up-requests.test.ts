/**
 * The HTTP half of the warm-up (functions/http/warm-up-requests.ts): a server answers its
 * own requests on a private loopback port, then is closed and can listen on its own
 * port; a server that does not answer holds it no longer than its bound. The requests
 * reach no route of the API (the router answers 404 and logs nothing).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { buildTokenSet } from '../../shared/auth.js';
import { memoryLogger } from '../../shared/logging.js';
import { createApiHandler } from '../../functions/http/api.js';
import { plainClaimToken, serveWarmUpRequests, warmUpRequests, WARM_UP_PATH } from '../../functions/http/warm-up-requests.js';

const TOKEN = 'warm-up-test-token-0123456789';

function serverSeeing(seen: Array<{ method: string; url: string; body: string; auth?: string }>, answer = true): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d) => (body += String(d)));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, body, auth: req.headers.authorization });
      if (answer) res.writeHead(404).end('{}');
    });
  });
}

const listenOf = (server: Server) => (port: number, host: string, cb: () => void) => void server.listen(port, host, cb);

describe('serveWarmUpRequests', () => {
  it('serves the requests on a private port, closes, and the server can then listen on its own', async () => {
    const seen: Array<{ method: string; url: string; body: string; auth?: string }> = [];
    const server = serverSeeing(seen);
    await serveWarmUpRequests(server, listenOf(server), warmUpRequests(TOKEN), 5_000);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([`GET ${WARM_UP_PATH}`, `POST ${WARM_UP_PATH}`, `GET ${WARM_UP_PATH}`, `POST ${WARM_UP_PATH}`]);
    expect(seen[1]!.auth).toBe(`Bearer ${TOKEN}`);
    expect(JSON.parse(seen[1]!.body)).toMatchObject({ pool: expect.any(String), count: 1 });
    expect(server.listening).toBe(false);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    expect((server.address() as AddressInfo).port).toBeGreaterThan(0);
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('sends no body, and no token, when no claim token is known', () => {
    expect(warmUpRequests(null).every((r) => r.method === 'GET' && r.body === undefined && r.headers === undefined)).toBe(true);
  });

  it('gives up after its bound on a server that never answers, and closes it', async () => {
    const seen: Array<{ method: string; url: string; body: string }> = [];
    const server = serverSeeing(seen, false);
    const t0 = performance.now();
    await serveWarmUpRequests(server, listenOf(server), warmUpRequests(null), 300);
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(3_000);
    expect(seen).toHaveLength(1);
    expect(server.listening).toBe(false);
  });

  it('resolves at once when it cannot listen', async () => {
    const server = createServer();
    const failing = (_p: number, _h: string, _cb: () => void) => void server.emit('error', new Error('EACCES'));
    await expect(serveWarmUpRequests(server, failing, warmUpRequests(null), 5_000)).resolves.toBeUndefined();
  });
});

describe("the warm-up's requests through the API handler and functions-framework", () => {
  it('are answered 404 by no route: nothing logged, no service called', async () => {
    const logger = memoryLogger();
    let depsCalls = 0;
    const deps = () => {
      depsCalls++;
      return Promise.reject(new Error('no service may be called'));
    };
    const api = createApiHandler(
      'all',
      () => ({ claimTokens: [TOKEN], adminTokens: [], project: 'p', maxBodyBytes: 65_536, retryAfterSeconds: 1 }),
      deps,
      () => logger,
    );
    const statuses: number[] = [];
    const name = `warm-up-requests-${process.pid}`;
    http(name, async (req, res) => {
      res.once('finish', () => statuses.push(res.statusCode));
      await api(req, res);
    });
    const server = getTestServer(name);
    await serveWarmUpRequests(server, listenOf(server), warmUpRequests(TOKEN), 5_000);
    expect(statuses).toEqual([404, 404, 404, 404]);
    expect(logger.entries).toEqual([]);
    expect(depsCalls).toBe(0);
  });
});

describe('plainClaimToken', () => {
  it.each([
    { case: 'an unnamed token', entries: [TOKEN], want: TOKEN },
    { case: 'a named token', entries: [`ci=${TOKEN}`], want: TOKEN },
    { case: 'only hashes', entries: ['sha256:' + 'a'.repeat(64)], want: null },
    { case: 'a hash, then a token', entries: ['sha256:' + 'a'.repeat(64), `ci=${TOKEN}`], want: TOKEN },
    { case: 'none', entries: [], want: null },
  ])('$case', ({ entries, want }) => {
    expect(plainClaimToken(entries, buildTokenSet(entries, []))).toBe(want);
  });
});
