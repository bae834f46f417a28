/** Pub/Sub SDK failures translated into WarmerErrors by gRPC code. */
import { WarmerError, type ErrorCode } from '../errors.js';

/** gRPC status codes (kept here so this file needs no grpc import). */
export const GRPC = {
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** SDK error → project error, decided by gRPC code. */
export function translatePubSubError(err: unknown, message: string): WarmerError {
  const code = grpcCode(err);
  let kind: ErrorCode;
  switch (code) {
    case GRPC.NOT_FOUND:
      kind = 'not_found';
      break;
    case GRPC.ALREADY_EXISTS:
      kind = 'already_exists';
      break;
    case GRPC.PERMISSION_DENIED:
    case GRPC.UNAUTHENTICATED:
      kind = 'permission_denied';
      break;
    case GRPC.RESOURCE_EXHAUSTED:
      kind = 'rate_limited';
      break;
    case GRPC.UNKNOWN:
    case GRPC.DEADLINE_EXCEEDED:
    case GRPC.ABORTED:
    case GRPC.INTERNAL:
    case GRPC.UNAVAILABLE:
      kind = 'transient';
      break;
    default:
      kind = 'internal';
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new WarmerError(kind, `${message}: ${detail}`, { cause: err, details: { grpcCode: code } });
}
