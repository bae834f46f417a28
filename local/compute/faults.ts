/** The API faults a test injects: stock-outs, rate limits, failing and hanging operations. */
import { apiRateLimited } from './api-error.js';
import type { OperationErrorSpec } from './control.js';
import { lastSegment, type ParsedInsert } from './instance-resource.js';
import type { OpError } from './operations.js';

const DEFAULT_INSERT_ERROR: OperationErrorSpec = { code: 'INTERNAL_ERROR', message: 'Internal error. Please try again or contact Google Support. (injected)' };
const DEFAULT_DELETE_ERROR: OperationErrorSpec = {
  code: 'INTERNAL_ERROR',
  message: 'Internal error. Please try again or contact Google Support. (injected delete failure)',
};

export class ApiFaults {
  private stockouts = new Map<string, { withDetails: boolean }>();
  private rateLimit = { remaining: 0, status: 403 as 403 | 429 };
  private insertFailures: OperationErrorSpec[] = [];
  private imageFailures = new Map<string, OperationErrorSpec>();
  private deleteFailures: OperationErrorSpec[] = [];
  private deleteHangs = 0;
  private insertHangs = 0;
  operationDelayMs: number;

  constructor(private readonly defaultOperationDelayMs: number) {
    this.operationDelayMs = defaultOperationDelayMs;
  }

  /** Throws the injected rate limit, if one is pending. */
  admit(): void {
    if (this.rateLimit.remaining > 0) {
      this.rateLimit.remaining--;
      throw apiRateLimited(this.rateLimit.status);
    }
  }

  setStockout(zone: string, exhausted: boolean, withDetails: boolean): void {
    if (exhausted) this.stockouts.set(zone, { withDetails });
    else this.stockouts.delete(zone);
  }

  rateLimitNext(count: number, status: 403 | 429): void {
    this.rateLimit = { remaining: count, status };
  }

  failNextInserts(count: number, error?: OperationErrorSpec): void {
    for (let i = 0; i < count; i++) this.insertFailures.push(error ?? DEFAULT_INSERT_ERROR);
  }

  failInsertsOfImage(image: string, error?: OperationErrorSpec | null): void {
    if (error === null) this.imageFailures.delete(image);
    else this.imageFailures.set(image, error ?? { code: 'RESOURCE_NOT_FOUND', message: `The resource '${image}' was not found` });
  }

  failNextDeletes(count: number, error?: OperationErrorSpec): void {
    for (let i = 0; i < count; i++) this.deleteFailures.push(error ?? DEFAULT_DELETE_ERROR);
  }

  hangNextDeletes(count: number): void {
    this.deleteHangs += count;
  }

  hangNextInserts(count: number): void {
    this.insertHangs += count;
  }

  /** Whether the next (successful) insert hangs: the machine exists, STAGING, its operation never DONE until released. */
  takeInsertHang(): boolean {
    if (this.insertHangs <= 0) return false;
    this.insertHangs--;
    return true;
  }

  /** The injected error the next insert ends in (image, queued failure, stock-out), or null. */
  insertFailure(project: string, zone: string, parsed: ParsedInsert): OpError | null {
    const imageFailure = this.imageFailures.get(parsed.sourceImage) ?? this.imageFailures.get(lastSegment(parsed.sourceImage));
    if (imageFailure) return { ...imageFailure, httpStatus: 400, httpMessage: 'BAD REQUEST' };
    const injected = this.insertFailures.shift();
    if (injected) return { ...injected, httpStatus: 500, httpMessage: 'INTERNAL SERVER ERROR' };
    const stockout = this.stockouts.get(zone);
    if (!stockout) return null;
    return stockout.withDetails
      ? {
          code: 'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS',
          message: `The zone 'projects/${project}/zones/${zone}' does not have enough resources available to fulfill the request. '(resource type:compute)'.`,
          httpStatus: 503,
          httpMessage: 'SERVICE UNAVAILABLE',
        }
      : {
          code: 'ZONE_RESOURCE_POOL_EXHAUSTED',
          message: `The zone 'projects/${project}/zones/${zone}' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.`,
          httpStatus: 503,
          httpMessage: 'SERVICE UNAVAILABLE',
        };
  }

  /** The injected error the next delete ends in, or null. */
  deleteFailure(): OpError | null {
    const failure = this.deleteFailures.shift();
    return failure ? { ...failure, httpStatus: 500, httpMessage: 'INTERNAL SERVER ERROR' } : null;
  }

  /** Whether the next delete hangs (counts it). */
  takeDeleteHang(): boolean {
    if (this.deleteHangs <= 0) return false;
    this.deleteHangs--;
    return true;
  }

  reset(): void {
    this.stockouts.clear();
    this.rateLimit = { remaining: 0, status: 403 };
    this.operationDelayMs = this.defaultOperationDelayMs;
    this.insertFailures = [];
    this.imageFailures.clear();
    this.deleteFailures = [];
    this.deleteHangs = 0;
    this.insertHangs = 0;
  }
}
