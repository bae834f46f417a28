/**
 * The HTTP half of a new instance's warm-up: before its server listens on its own port,
 * it answers a few requests of its own on a private loopback port, so that the first
 * claim does not pay for the first run of the request path (Node's HTTP parser and
 * response writer, Express and functions-framework's per-request wrapper and domain, the
 * body guard's reading and parsing of a JSON body, warmer's router and its JSON answer).
 *
 * The requests go to a path no route serves: the router answers 404 without logging and
 * without calling a service, so they read and write nothing and leave no log line. The
 * server is then closed (its connections with it) and can listen on its own port.
 */
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { identifyToken, splitTokenEntry, type TokenSet } from '../../shared/auth.js';

/** A path no route serves (routes have no underscore in their first segment). */
export const WARM_UP_PATH = '/_warmer-warm-up';

export interface WarmUpRequest {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

/**
 * The requests of the warm-up: one without a body, then, when a claim token is known, a
 * claim's body with its token (the guard reads and parses a body only for a caller it
 * knows). The token goes to this process's own loopback port, nowhere else.
 */
export function warmUpRequests(claimToken: string | null): WarmUpRequest[] {
  const get: WarmUpRequest = { method: 'GET' };
  if (claimToken === null) return [get, get];
  const post: WarmUpRequest = {
    method: 'POST',
    headers: { authorization: `Bearer ${claimToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ pool: 'warm-up', requestId: 'warm-up', labels: { warm: 'up' }, count: 1 }),
  };
  return [get, post, get, post];
}

/**
 * A configured claim token in the clear (`TOKEN` or `NAME=TOKEN`, split as shared/auth.ts
 * splits them; not `sha256:` entries), checked against the token set the guard uses;
 * null when every token is configured by its hash.
 */
export function plainClaimToken(entries: readonly string[], tokens: TokenSet): string | null {
  for (const raw of entries) {
    const { secret } = splitTokenEntry(raw);
    if (!secret.startsWith('sha256:') && identifyToken(tokens, secret) !== null) return secret;
  }
  return null;
}

function send(port: number, r: WarmUpRequest): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: r.method,
        path: WARM_UP_PATH,
        agent: false,
        headers: { ...r.headers, ...(r.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(r.body)) }) },
      },
      (res) => {
        res.resume();
        res.once('end', resolve);
        res.once('error', reject);
      },
    );
    req.once('error', reject);
    req.end(r.body);
  });
}

/**
 * Serves `requests` one after the other on 127.0.0.1 (a port the system picks), then
 * closes the server; resolves once it is closed, after `withinMs` at the latest (its
 * connections are then cut). Never rejects: a failed warm-up only leaves the first
 * request colder. `listen` is the server's own listen (the entry point defers the public one).
 */
export async function serveWarmUpRequests(
  server: Server,
  listen: (port: number, host: string, callback: () => void) => void,
  requests: WarmUpRequest[],
  withinMs: number,
): Promise<void> {
  let bound: ReturnType<typeof setTimeout> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch {
    return;
  }
  const { port } = server.address() as AddressInfo;
  const cap = new Promise<void>((resolve) => (bound = setTimeout(resolve, withinMs)));
  const run = (async () => {
    for (const r of requests) await send(port, r);
  })().catch(() => undefined);
  await Promise.race([run, cap]);
  clearTimeout(bound);
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
