/**
 * One base error for the whole project. Every error a caller may act on carries a
 * machine-readable `code`, the HTTP status it maps to, and whether retrying the same
 * operation may succeed. Callers decide by `code`, never by parsing messages.
 */
/**
 * What each kind of error means, as data: every consumer reads this table (the HTTP
 * router, the create path of reconcile, the Compute Engine adapter's retries). Adding a
 * kind touches this table and its test (test/unit/error-kinds.test.ts) only.
 */
export interface ErrorKind {
  /** The HTTP status of the error (shown to API clients only when `answered`). */
  status: number;
  /** Retrying the same operation may succeed. */
  retryable: boolean;
  /**
   * The API answers with this error's code and message (every 4xx, and the 503s that
   * say "try again"); otherwise a generic 500 whose details go only to the log.
   */
  answered: boolean;
  /** The answer carries `retry-after`. */
  retryAfter: boolean;
  /**
   * A create that failed with it may still have made the machine (the record then stays
   * `creating` and a later pass resolves it by name and requestId); false: no machine
   * was made and the record is closed.
   */
  machineMayExist: boolean;
  /**
   * A create that failed with it tries another zone of the pool: `zone` marks this zone
   * cold, `region` stops creations in the whole region for this pass. null: no retry.
   */
  tryAnotherZone: 'zone' | 'region' | null;
  /** A create that failed with it counts against the pool's circuit breaker. */
  countsAgainstBreaker: boolean;
}

const row = (status: number, more: Partial<ErrorKind> = {}): ErrorKind => ({
  status,
  retryable: false,
  answered: status < 500,
  retryAfter: false,
  machineMayExist: true,
  tryAnotherZone: null,
  countsAgainstBreaker: false,
  ...more,
});

export const ERROR_KINDS = {
  // request and API errors
  bad_request: row(400, { machineMayExist: false }),
  unauthorized: row(401),
  forbidden: row(403),
  // On an insert, "not found" is a missing image, network or subnetwork: the request was
  // refused (no machine made) and retrying it until the boot timeout cannot help.
  not_found: row(404, { machineMayExist: false, countsAgainstBreaker: true }),
  method_not_allowed: row(405),
  conflict: row(409),
  payload_too_large: row(413),
  unsupported_media_type: row(415),
  pool_empty: row(503, { answered: true, retryAfter: true }),
  pool_disabled: row(409),
  /** A request id replayed with a different body (pool, count, assignee, labels). */
  idempotency_key_reused: row(422),
  /** A replayed claim whose machines were released or deleted since: their state, never a dead machine. */
  claim_gone: row(410),
  internal: row(500),
  // Compute Engine error kinds (translated by the adapter)
  zone_stockout: row(503, { retryable: true, answered: false, machineMayExist: false, tryAnotherZone: 'zone' }),
  // A dedicated-node pool's node group had no node with room: like a stock-out of that
  // group (its one zone is marked cold for the pool; no machine was made).
  node_group_full: row(503, { retryable: true, answered: false, machineMayExist: false, tryAnotherZone: 'zone' }),
  quota_exceeded: row(403, { machineMayExist: false, tryAnotherZone: 'region' }),
  rate_limited: row(429, { retryable: true, retryAfter: true }),
  already_exists: row(409),
  permission_denied: row(403, { machineMayExist: false, countsAgainstBreaker: true }),
  operation_failed: row(500, { machineMayExist: false, countsAgainstBreaker: true }),
  transient: row(503, { retryable: true, answered: true, retryAfter: true }),
  // store
  contention: row(503, { retryable: true, answered: true, retryAfter: true }),
  precondition_failed: row(409),
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof ERROR_KINDS;

/** What an error means; anything that is not a WarmerError means what `internal` does. */
export function kindOf(err: unknown): ErrorKind {
  return err instanceof WarmerError ? ERROR_KINDS[err.code] : ERROR_KINDS.internal;
}

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
    this.status = options.status ?? ERROR_KINDS[code].status;
    this.retryable = options.retryable ?? ERROR_KINDS[code].retryable;
    this.details = options.details;
  }
}

export function isWarmerError(err: unknown, code?: ErrorCode): err is WarmerError {
  return err instanceof WarmerError && (code === undefined || err.code === code);
}
