/**
 * A small router for the HTTP functions: matches method and path, authenticates,
 * enforces body limits and content type, and maps every error to one JSON shape
 * `{"error": {"code", "message", "details"?}}`. Unknown errors become a generic 500
 * whose details go only to the log.
 */
import type { Request, Response } from '@google-cloud/functions-framework';
import { credentialFrom, identifyToken, type Caller, type TokenKind, type TokenSet } from '../../shared/auth.js';
import { kindOf, WarmerError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logging.js';

export interface RouteContext {
  req: Request;
  params: Record<string, string>;
  body: unknown;
  token: TokenKind;
  /** Who called: the token's role and principal (routes with auth 'none': an anonymous claim role). */
  caller: Caller;
  logger: Logger;
  /** True once the client has hung up (its connection closed before the answer was sent). */
  clientGone: () => boolean;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Raw text body (e.g. HTML or YAML), sent with the given content-type header. */
  text?: string;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Route {
  method: Method;
  /** e.g. `/pools/:name` */
  path: string;
  /** The least token kind allowed; admin tokens may use claim routes too. 'none' serves without a token. */
  auth: TokenKind | 'none';
  /** Accept HTTP Basic with the token as password (the Travis worker). */
  basicAuth?: boolean;
  /** Custom error bodies (the Travis route answers its own shapes). */
  mapError?: (err: WarmerError) => Reply | null;
  handle(ctx: RouteContext): Promise<Reply>;
}

export interface RouterOptions {
  tokens: () => TokenSet;
  logger: () => Logger;
  project: () => string;
  maxBodyBytes: () => number;
  retryAfterSeconds: () => number;
}

interface Compiled {
  route: Route;
  segments: string[];
}

function match(segments: string[], path: string[]): Record<string, string> | null {
  if (segments.length !== path.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    const p = path[i]!;
    if (s.startsWith(':')) {
      try {
        params[s.slice(1)] = decodeURIComponent(p);
      } catch {
        return null;
      }
    } else if (s !== p) return null;
  }
  return params;
}

/** Maps an error to its answer by the error-kind table (shared/errors.ts). */
export function errorReply(err: unknown, retryAfterSeconds: number): Reply {
  if (err instanceof WarmerError && (err.status < 500 || kindOf(err).answered)) {
    return {
      status: err.status,
      body: { error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) } },
      headers: kindOf(err).retryAfter ? { 'retry-after': String(retryAfterSeconds) } : undefined,
    };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'internal error' } } };
}

function send(res: Response, reply: Reply): void {
  res.status(reply.status);
  for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
  if (reply.text !== undefined) {
    res.send(reply.text);
  } else if (reply.body === undefined) {
    res.end();
  } else {
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.send(JSON.stringify(reply.body));
  }
}

function traceField(req: Request, project: string): Record<string, string> {
  const header = req.get('x-cloud-trace-context');
  const traceId = header?.split('/')[0];
  return traceId && /^[0-9a-f]{32}$/i.test(traceId) ? { 'logging.googleapis.com/trace': `projects/${project}/traces/${traceId}` } : {};
}

export function createRouter(routes: Route[], opts: RouterOptions) {
  const compiled: Compiled[] = routes.map((route) => ({ route, segments: route.path.split('/').filter(Boolean) }));

  return async function handle(req: Request, res: Response): Promise<void> {
    const logger = opts.logger().child({ httpRequest: { requestMethod: req.method, requestUrl: req.path }, ...traceField(req, opts.project()) });
    let gone = false;
    res.once('close', () => {
      if (!res.writableFinished) gone = true;
    });
    const clientGone = () => gone || req.socket.destroyed;
    const path = req.path.split('/').filter(Boolean);
    // HEAD is answered like GET, without a body (Express drops the body of a HEAD answer).
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    let route: Route | undefined;
    let params: Record<string, string> | null = null;
    const allowed: string[] = [];
    for (const c of compiled) {
      const p = match(c.segments, path);
      if (!p) continue;
      allowed.push(c.route.method, ...(c.route.method === 'GET' ? ['HEAD'] : []));
      if (c.route.method === method) {
        route = c.route;
        params = p;
        break;
      }
    }
    if (!route || !params) {
      const reply: Reply =
        allowed.length > 0
          ? {
              status: 405,
              headers: { allow: allowed.join(', ') },
              body: { error: { code: 'method_not_allowed', message: `${req.method} is not allowed on ${req.path}` } },
            }
          : { status: 404, body: { error: { code: 'not_found', message: `no route ${req.method} ${req.path}` } } };
      send(res, reply);
      return;
    }
    const retryAfter = opts.retryAfterSeconds();
    try {
      let caller: Caller = { role: 'claim', principal: 'anonymous' };
      if (route.auth !== 'none') {
        const credential = credentialFrom(req.get('authorization'), route.basicAuth === true);
        const who = credential === null ? null : identifyToken(opts.tokens(), credential);
        if (who === null) {
          throw new WarmerError('unauthorized', credential === null ? 'missing credentials: send "Authorization: Bearer <token>"' : 'invalid token');
        }
        if (route.auth === 'admin' && who.role !== 'admin') throw new WarmerError('forbidden', 'this route needs an admin token');
        caller = who;
      }
      let body: unknown = undefined;
      if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') {
        const raw = (req as Request & { rawBody?: Buffer }).rawBody;
        const size = raw?.length ?? Number(req.get('content-length') ?? 0);
        if (size > opts.maxBodyBytes()) throw new WarmerError('payload_too_large', `request body is ${size} bytes; the limit is ${opts.maxBodyBytes()}`);
        if (size > 0) {
          if (!req.is('application/json')) throw new WarmerError('unsupported_media_type', 'send the body as application/json');
          body = req.body;
        }
      }
      const reply = await route.handle({ req, params, body, token: caller.role, caller, logger, clientGone });
      send(res, reply);
    } catch (err) {
      const custom = err instanceof WarmerError && route.mapError ? route.mapError(err) : null;
      const reply = custom ?? errorReply(err, retryAfter);
      // Only real faults are ERRORs with a stack trace; an answered 5xx (an empty pool,
      // contention, a transient store error: the error-kind table's `answered`) is a
      // WARNING without one.
      if (reply.status >= 500 && !(err instanceof WarmerError && kindOf(err).answered)) logger.error('request failed', { status: reply.status }, err);
      else if (reply.status >= 500)
        logger.warn('request not served', { status: reply.status, code: (err as WarmerError).code, reason: (err as Error).message });
      else logger.info('request refused', { status: reply.status, code: (err as WarmerError).code, reason: (err as Error).message });
      send(res, reply);
    }
  };
}
