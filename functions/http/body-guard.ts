/**
 * The body guard: warmer reads request bodies itself, before functions-framework does.
 *
 * functions-framework 5 puts body-parser (json, text, urlencoded, raw; limit 1024mb, with
 * gzip/deflate inflation) in front of every function, so a 200 KB gzip body inflates to a
 * gigabyte before warmer's auth and body limit run, and there is no option to turn it
 * off. The guard therefore sits in front of Express: it wraps the request listener of
 * every server functions-framework builds for a function marked with `guardBodies`
 * (its `getServer`, used by both its CLI and `getTestServer`, is wrapped once). For a
 * request with a body it:
 *
 *   1. answers 401 when no valid token (Bearer, or the password of Basic) is presented,
 *      without reading a byte of the body (the connection is closed, not drained);
 *   2. answers 413 when Content-Length exceeds the limit, and 415 for any
 *      Content-Encoding but identity (warmer never inflates);
 *   3. reads the body with a hard cap (chunked bodies without Content-Length stop at the
 *      cap with 413), and for application/json decodes strict UTF-8 and parses it,
 *      refusing lone surrogates (400);
 *   4. hands the result over as `req.rawBody` / `req.body`: the request stream is then
 *      complete, and body-parser skips a complete request (`on-finished` isFinished).
 *
 * So no body costs more memory than the limit, and no unauthenticated request more than
 * its headers. Requests without a body pass straight through.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { credentialFrom, identifyToken, type TokenSet } from '../../shared/auth.js';
import type { ErrorCode } from '../../shared/errors.js';
import type { Logger } from '../../shared/logging.js';

export interface BodyGuardOptions {
  maxBodyBytes: () => number;
  tokens: () => TokenSet;
  logger: () => Logger;
  /**
   * null when the options above can be called, else a promise of the moment they can
   * (the entry point imports its configuration after its own import): requests wait on it.
   */
  ready?: () => Promise<void> | null;
}

const GUARD = Symbol.for('warmer.bodyGuard');

type Listener = (req: IncomingMessage, res: ServerResponse) => void;
type GuardedRequest = IncomingMessage & { rawBody?: Buffer; body?: unknown; _body?: boolean };

/** Marks a function handler so that the servers functions-framework builds for it are guarded. */
export function guardBodies<F extends object>(handler: F, options: BodyGuardOptions): F {
  Object.defineProperty(handler, GUARD, { value: options });
  installBodyGuard();
  return handler;
}

function refuse(req: IncomingMessage, res: ServerResponse, opts: BodyGuardOptions, status: number, code: ErrorCode, message: string): void {
  opts.logger().info('request refused', { httpRequest: { requestMethod: req.method, requestUrl: req.url?.split('?')[0] }, status, code, reason: message });
  const body = JSON.stringify({ error: { code, message } });
  // The body is never drained: the connection closes after the answer.
  res.shouldKeepAlive = false;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}

const LONE_SURROGATE = /\p{Surrogate}/u;

/** JSON.parse, refusing strings (values or keys) with a lone UTF-16 surrogate: no store can keep them. */
function parseJson(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  let bad = false;
  let value: unknown;
  try {
    value = JSON.parse(text, function reviver(key, v) {
      if (LONE_SURROGATE.test(key) || (typeof v === 'string' && LONE_SURROGATE.test(v))) bad = true;
      return v;
    });
  } catch {
    return { ok: false, message: 'request body is not valid JSON' };
  }
  return bad ? { ok: false, message: 'request body contains a lone UTF-16 surrogate (e.g. "\\ud800"); strings must be valid Unicode' } : { ok: true, value };
}

function mediaType(req: IncomingMessage): { type: string; charset: string | null } {
  const [type = '', ...params] = (req.headers['content-type'] ?? '').split(';');
  const charset = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('charset='));
  return { type: type.trim().toLowerCase(), charset: charset ? charset.slice('charset='.length).replace(/"/g, '') : null };
}

/** Checks and reads the body of one request, then calls `next` (Express) or answers itself. */
export function guardRequest(req: GuardedRequest, res: ServerResponse, opts: BodyGuardOptions, next: () => void): void {
  const lengthHeader = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (lengthHeader === undefined || lengthHeader === '0')) {
    next();
    return;
  }
  const credential = credentialFrom(req.headers.authorization, true);
  if (credential === null || identifyToken(opts.tokens(), credential) === null) {
    refuse(req, res, opts, 401, 'unauthorized', credential === null ? 'missing credentials: send "Authorization: Bearer <token>"' : 'invalid token');
    return;
  }
  const limit = opts.maxBodyBytes();
  const declared = lengthHeader === undefined ? null : Number(lengthHeader);
  if (declared !== null && declared > limit) {
    refuse(req, res, opts, 413, 'payload_too_large', `request body is ${declared} bytes; the limit is ${limit}`);
    return;
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity') {
    refuse(req, res, opts, 415, 'unsupported_media_type', `Content-Encoding "${encoding}" is not accepted; send the body uncompressed`);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let done = false;
  const onData = (chunk: Buffer) => {
    if (done) return;
    size += chunk.length;
    if (size > limit) {
      done = true;
      req.off('data', onData);
      req.pause();
      refuse(req, res, opts, 413, 'payload_too_large', `request body exceeds the limit of ${limit} bytes`);
      return;
    }
    chunks.push(chunk);
  };
  req.on('data', onData);
  req.once('error', () => {
    done = true;
  });
  req.once('end', () => {
    if (done) return;
    done = true;
    const raw = Buffer.concat(chunks, size);
    req.rawBody = raw;
    req._body = true;
    req.body = undefined;
    const { type, charset } = mediaType(req);
    if (type === 'application/json' && raw.length > 0) {
      if (charset !== null && charset !== 'utf-8' && charset !== 'utf8') {
        refuse(req, res, opts, 415, 'unsupported_media_type', `charset "${charset}" is not accepted; send UTF-8`);
        return;
      }
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
      } catch {
        refuse(req, res, opts, 400, 'bad_request', 'request body is not valid UTF-8');
        return;
      }
      const parsed = parseJson(text);
      if (!parsed.ok) {
        refuse(req, res, opts, 400, 'bad_request', parsed.message);
        return;
      }
      req.body = parsed.value;
    }
    next();
  });
}

/** Wraps a server's request listener with the guard. */
export function guardServer(server: Server, opts: BodyGuardOptions): Server {
  const listeners = server.listeners('request') as Listener[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const guard = () =>
      guardRequest(req, res, opts, () => {
        for (const l of listeners) l(req, res);
      });
    const waiting = opts.ready?.() ?? null;
    if (waiting === null) guard();
    else
      waiting.then(guard, () => {
        res.shouldKeepAlive = false;
        res.writeHead(500, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
        res.end(JSON.stringify({ error: { code: 'internal', message: 'internal error' } }));
      });
  });
  return server;
}

let installed = false;

/**
 * Wraps functions-framework's `getServer` (build/src/server.js; its CLI and
 * `getTestServer` both look it up on the module's exports at call time) so that servers
 * built for a guarded function get the guard. Idempotent.
 */
export function installBodyGuard(): void {
  if (installed) return;
  installed = true;
  const require = createRequire(import.meta.url);
  const serverModule = require(join(dirname(require.resolve('@google-cloud/functions-framework')), 'server.js')) as {
    getServer: (fn: unknown, options: unknown) => Server;
  };
  const original = serverModule.getServer;
  serverModule.getServer = function getServer(fn: unknown, options: unknown): Server {
    const server = original(fn, options);
    const opts = (fn as { [GUARD]?: BodyGuardOptions } | null)?.[GUARD];
    return opts ? guardServer(server, opts) : server;
  };
}
