/**
 * Compute Engine failures translated into WarmerErrors by kind. Pure: decided by
 * status, reasons and operation codes, never by message text. What each kind then means
 * (retry, another zone, breaker, HTTP answer) is the error-kind table in shared/errors.ts.
 */
import type { protos } from '@google-cloud/compute';
import { WarmerError, type ErrorCode } from '../errors.js';

type IOperation = protos.google.cloud.compute.v1.IOperation;

/** What can be read off a failed call or a failed operation. */
export interface ComputeErrorFacts {
  /** HTTP status of the failed call (absent for a failed operation or a network error). */
  httpStatus?: number | null;
  /** `error.errors[].reason` of the HTTP error body (quotaExceeded, rateLimitExceeded, notFound …). */
  reasons?: readonly string[];
  /** `operation.error.errors[].code` of a DONE operation (QUOTA_EXCEEDED, ZONE_RESOURCE_POOL_EXHAUSTED …). */
  operationCodes?: readonly string[];
  /** A Node network error code (ECONNREFUSED, ECONNRESET, ETIMEDOUT …). */
  networkCode?: string | null;
  /** A gRPC status code from google-gax (4 DEADLINE_EXCEEDED, 14 UNAVAILABLE …). */
  grpcCode?: number | null;
}

const STOCKOUT = new Set(['ZONE_RESOURCE_POOL_EXHAUSTED', 'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS', 'insufficientCapacity']);
const QUOTA = new Set(['QUOTA_EXCEEDED', 'quotaExceeded']);
const RATE = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'RATE_LIMIT_EXCEEDED']);
const EXISTS = new Set(['alreadyExists', 'RESOURCE_ALREADY_EXISTS']);
const NOT_FOUND = new Set(['notFound']);
const TRANSIENT_GRPC = new Set([4, 10, 13, 14]); // DEADLINE_EXCEEDED, ABORTED, INTERNAL, UNAVAILABLE

/**
 * The kind of a Compute Engine failure. Pure: decided by status, reasons and operation
 * codes, never by message text. A failed operation with no known code is
 * `operation_failed`; an HTTP 404 is `not_found` (an operation that failed on a missing
 * image is an `operation_failed`, not a missing machine).
 */
export function classifyComputeError(f: ComputeErrorFacts): ErrorCode {
  const codes = [...(f.operationCodes ?? []), ...(f.reasons ?? [])];
  const has = (set: ReadonlySet<string>) => codes.some((c) => set.has(c));
  const status = f.httpStatus ?? null;
  if (has(STOCKOUT)) return 'zone_stockout';
  if (has(QUOTA)) return 'quota_exceeded';
  if (has(RATE) || status === 429 || f.grpcCode === 8) return 'rate_limited';
  if (has(EXISTS) || status === 409) return 'already_exists';
  if ((f.operationCodes ?? []).length > 0) return 'operation_failed';
  if (status === 404 || has(NOT_FOUND)) return 'not_found';
  if (status === 401 || status === 403 || f.grpcCode === 7 || f.grpcCode === 16) return 'permission_denied';
  if (status !== null && (status >= 500 || status === 408 || status === 412)) return 'transient';
  if (f.networkCode) return 'transient';
  if (f.grpcCode !== null && f.grpcCode !== undefined && TRANSIENT_GRPC.has(f.grpcCode)) return 'transient';
  return 'operation_failed';
}

interface ErrorBody {
  error?: { code?: number; message?: string; errors?: Array<{ reason?: string; message?: string }> };
}

function parseBody(data: unknown): ErrorBody | null {
  if (typeof data === 'string') {
    try {
      return JSON.parse(data) as ErrorBody;
    } catch {
      return null;
    }
  }
  return data && typeof data === 'object' ? (data as ErrorBody) : null;
}

/** Reads the facts off whatever the client threw (GaxiosError, GoogleError, a network error). */
export function factsOfError(err: unknown): ComputeErrorFacts & { message: string } {
  const e = (err ?? {}) as {
    code?: unknown;
    status?: unknown;
    message?: unknown;
    response?: { status?: unknown; data?: unknown };
    cause?: { code?: unknown };
  };
  const rawMessage = typeof e.message === 'string' ? e.message : String(err);
  const body = parseBody(e.response?.data) ?? parseBody(rawMessage);
  const httpStatus =
    typeof e.response?.status === 'number'
      ? e.response.status
      : typeof e.status === 'number' && e.status >= 100
        ? e.status
        : typeof e.code === 'number' && e.code >= 100
          ? e.code
          : typeof body?.error?.code === 'number'
            ? body.error.code
            : null;
  const grpcCode = typeof e.code === 'number' && e.code < 100 ? e.code : null;
  const networkCode = typeof e.code === 'string' && /^E[A-Z]+/.test(e.code) ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : null;
  const reasons = (body?.error?.errors ?? []).map((x) => x.reason).filter((r): r is string => typeof r === 'string');
  return { httpStatus, grpcCode, networkCode, reasons, message: body?.error?.message ?? rawMessage };
}

/** Translates a thrown client error into a `WarmerError`. */
export function toWarmerError(err: unknown, context: string): WarmerError {
  if (err instanceof WarmerError) return err;
  const facts = factsOfError(err);
  const code = classifyComputeError(facts);
  return new WarmerError(code, `${context}: ${facts.message}`, {
    cause: err,
    details: { httpStatus: facts.httpStatus, reasons: facts.reasons, networkCode: facts.networkCode, grpcCode: facts.grpcCode },
  });
}

/** Translates a DONE operation that carries an error into a `WarmerError`. */
export function operationToWarmerError(op: IOperation, context: string): WarmerError {
  const errors = op.error?.errors ?? [];
  const operationCodes = errors.map((e) => e.code).filter((c): c is string => typeof c === 'string' && c !== '');
  const code = classifyComputeError({ operationCodes: operationCodes.length ? operationCodes : ['UNKNOWN'] });
  const message =
    errors
      .map((e) => e.message)
      .filter(Boolean)
      .join('; ') ||
    op.httpErrorMessage ||
    'operation failed';
  return new WarmerError(code, `${context}: ${message}`, {
    details: { operation: op.name, operationCodes, httpErrorStatusCode: op.httpErrorStatusCode ?? null },
  });
}

export function isFingerprintConflict(err: unknown): boolean {
  const f = factsOfError(err);
  if (f.reasons?.includes('conditionNotMet') || f.httpStatus === 412) return true;
  return f.httpStatus === 400 && /fingerprint/i.test(f.message);
}
