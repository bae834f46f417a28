/** Pub/Sub SDK failures → error kinds, by gRPC code. No I/O. */
import { describe, expect, it } from 'vitest';
import { translatePubSubError } from '../../shared/adapters/pubsub-errors.js';
import type { ErrorCode } from '../../shared/errors.js';

const grpcError = (code: unknown, message = 'boom') => Object.assign(new Error(message), { code });

describe('translatePubSubError', () => {
  const cases: Array<[string, unknown, ErrorCode, boolean]> = [
    ['NOT_FOUND', grpcError(5), 'not_found', false],
    ['ALREADY_EXISTS', grpcError(6), 'already_exists', false],
    ['PERMISSION_DENIED', grpcError(7), 'permission_denied', false],
    ['UNAUTHENTICATED', grpcError(16), 'permission_denied', false],
    ['RESOURCE_EXHAUSTED', grpcError(8), 'rate_limited', true],
    ['UNKNOWN', grpcError(2), 'transient', true],
    ['DEADLINE_EXCEEDED', grpcError(4), 'transient', true],
    ['ABORTED', grpcError(10), 'transient', true],
    ['INTERNAL', grpcError(13), 'transient', true],
    ['UNAVAILABLE', grpcError(14), 'transient', true],
    ['INVALID_ARGUMENT', grpcError(3), 'internal', false],
    ['a string code', grpcError('ECONNREFUSED'), 'internal', false],
    ['not an Error', 'nope', 'internal', false],
  ];
  it.each(cases)('%s', (_name, err, kind, retryable) => {
    const e = translatePubSubError(err, 'publish to t failed');
    expect(e.code).toBe(kind);
    expect(e.retryable).toBe(retryable);
    expect(e.message).toBe(`publish to t failed: ${err instanceof Error ? err.message : String(err)}`);
    expect(e.cause).toBe(err);
  });
});
