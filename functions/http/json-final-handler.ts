/**
 * functions-framework parses request bodies with body-parser before our function runs,
 * and a body it cannot parse (malformed JSON, unsupported charset) ends in Express's
 * default final handler, which answers HTML. This installs a final handler that answers
 * our JSON error shape instead. It patches Express's application prototype once, when the
 * functions module loads (before functions-framework builds its server).
 */
import express from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';

interface BodyParserError {
  status?: number;
  statusCode?: number;
  type?: string;
  expose?: boolean;
}

const CODES: Record<number, string> = { 400: 'bad_request', 404: 'not_found', 413: 'payload_too_large', 415: 'unsupported_media_type' };

function messageFor(err: BodyParserError, status: number): string {
  switch (err.type) {
    case 'entity.parse.failed':
      return 'request body is not valid JSON';
    case 'entity.too.large':
      return 'request body is too large';
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return 'unsupported body encoding or charset';
    default:
      return status === 404 ? 'no such route' : 'bad request';
  }
}

export function jsonFinalHandler(req: IncomingMessage, res: ServerResponse) {
  return (err?: unknown) => {
    if (res.headersSent) {
      res.end();
      return;
    }
    const e = (err ?? {}) as BodyParserError;
    const status = err ? (e.status ?? e.statusCode ?? 500) : 404;
    const safe = status >= 400 && status < 500 ? status : 500;
    const body = JSON.stringify({
      error: { code: CODES[safe] ?? (safe === 500 ? 'internal' : 'bad_request'), message: safe === 500 ? 'internal error' : messageFor(e, safe) },
    });
    res.statusCode = safe;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(body);
  };
}

let installed = false;

export function installJsonFinalHandler(): void {
  if (installed) return;
  installed = true;
  const proto = (express as unknown as { application: { handle: (req: IncomingMessage, res: ServerResponse, cb?: (err?: unknown) => void) => void } })
    .application;
  const original = proto.handle;
  proto.handle = function handle(this: unknown, req, res, cb) {
    return original.call(this, req, res, cb ?? jsonFinalHandler(req, res));
  };
}
