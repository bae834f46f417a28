/**
 * The error-kind table: what each kind means to the API, to retries, and to a failed
 * create in reconcile. Adding a kind touches shared/errors.ts and this table.
 */
import { describe, expect, it } from 'vitest';
import { ERROR_KINDS, kindOf, WarmerError, type ErrorCode, type ErrorKind } from '../../shared/errors.js';
import { errorReply } from '../../functions/http/router.js';

type Row = [ErrorCode, number, boolean, boolean, boolean, boolean, ErrorKind['tryAnotherZone'], boolean];
//  kind                       status retryable answered retryAfter mayExist anotherZone breaker
const TABLE: Row[] = [
  ['bad_request', 400, false, true, false, false, null, false],
  ['unauthorized', 401, false, true, false, true, null, false],
  ['forbidden', 403, false, true, false, true, null, false],
  ['not_found', 404, false, true, false, false, null, true],
  ['method_not_allowed', 405, false, true, false, true, null, false],
  ['conflict', 409, false, true, false, true, null, false],
  ['payload_too_large', 413, false, true, false, true, null, false],
  ['unsupported_media_type', 415, false, true, false, true, null, false],
  ['pool_empty', 503, false, true, true, true, null, false],
  ['pool_disabled', 409, false, true, false, true, null, false],
  ['idempotency_key_reused', 422, false, true, false, true, null, false],
  ['claim_gone', 410, false, true, false, true, null, false],
  ['internal', 500, false, false, false, true, null, false],
  ['zone_stockout', 503, true, false, false, false, 'zone', false],
  ['node_group_full', 503, true, false, false, false, 'zone', false],
  ['quota_exceeded', 403, false, true, false, false, 'region', false],
  ['rate_limited', 429, true, true, true, true, null, false],
  ['already_exists', 409, false, true, false, true, null, false],
  ['permission_denied', 403, false, true, false, false, null, true],
  ['operation_failed', 500, false, false, false, false, null, true],
  ['transient', 503, true, true, true, true, null, false],
  ['contention', 503, true, true, true, true, null, false],
  ['precondition_failed', 409, false, true, false, true, null, false],
];

describe('the error-kind table', () => {
  it('has exactly the kinds of this test', () => {
    expect(Object.keys(ERROR_KINDS).sort()).toEqual(TABLE.map((r) => r[0]).sort());
  });

  it.each(TABLE)('%s', (code, status, retryable, answered, retryAfter, machineMayExist, tryAnotherZone, countsAgainstBreaker) => {
    expect(ERROR_KINDS[code]).toEqual({ status, retryable, answered, retryAfter, machineMayExist, tryAnotherZone, countsAgainstBreaker });
    const err = new WarmerError(code, 'message');
    expect({ status: err.status, retryable: err.retryable }).toEqual({ status, retryable });
    expect(kindOf(err)).toBe(ERROR_KINDS[code]);
    // The HTTP answer follows the row: its own code and status, or a generic 500.
    const reply = errorReply(err, 7);
    if (answered) {
      expect(reply).toMatchObject({ status, body: { error: { code, message: 'message' } } });
    } else {
      expect(reply).toEqual({ status: 500, body: { error: { code: 'internal', message: 'internal error' } } });
    }
    expect(reply.headers?.['retry-after']).toBe(answered && retryAfter ? '7' : undefined);
  });

  it('anything that is not a WarmerError means what internal means', () => {
    expect(kindOf(new Error('boom'))).toBe(ERROR_KINDS.internal);
    expect(kindOf('a string')).toBe(ERROR_KINDS.internal);
    expect(errorReply(new Error('secret detail'), 7)).toEqual({ status: 500, body: { error: { code: 'internal', message: 'internal error' } } });
  });
});
