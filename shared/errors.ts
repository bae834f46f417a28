/**
 * One base error for the whole project. Every error a caller may act on carries a
 * machine-readable `code`, the HTTP status it maps to, and whether retrying the same
 * operation may succeed. Callers decide by `code`, never by parsing messages.
 */
export type ErrorCode =
  // request and API errors
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'pool_empty'
  | 'pool_disabled'
  | 'internal'
  // Compute Engine error kinds (translated by the adapter)
  | 'zone_stockout'
  | 'quota_exceeded'
  | 'rate_limited'
  | 'already_exists'
  | 'permission_denied'
  | 'operation_failed'
  | 'transient'
  // store
  | 'contention'
  | 'precondition_failed';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  pool_empty: 503,
  pool_disabled: 409,
  internal: 500,
  zone_stockout: 503,
  quota_exceeded: 403,
  rate_limited: 429,
  already_exists: 409,
  permission_denied: 403,
  operation_failed: 500,
  transient: 503,
  contention: 503,
  precondition_failed: 409,
};

const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'rate_limited',
  'transient',
  'contention',
  'zone_stockout',
]);

export interface WarmerErrorOptions {
  status?: number;
  retryable?: boolean;
  details?: unknown;
  cause?: unknown;
}

export class WarmerError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: WarmerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WarmerError';
    this.code = code;
    this.status = options.status ?? STATUS[code];
    this.retryable = options.retryable ?? RETRYABLE.has(code);
    this.details = options.details;
  }
}

export function isWarmerError(err: unknown, code?: ErrorCode): err is WarmerError {
  return err instanceof WarmerError && (code === undefined || err.code === code);
}

export const badRequest = (message: string, details?: unknown): WarmerError =>
  new WarmerError('bad_request', message, { details });
export const notFound = (message: string): WarmerError => new WarmerError('not_found', message);
