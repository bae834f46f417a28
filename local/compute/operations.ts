/**
 * Zone operations: PENDING → RUNNING → DONE on timers, `requestId` idempotency, hung
 * operations a test releases, and `operations/{op}/wait` waiters.
 */
import { randomBytes } from 'node:crypto';
import { apiNotFound } from './api-error.js';
import type { OperationErrorSpec } from './control.js';
import { API_BASE, numericId, timestamp, type Json } from './instance-resource.js';
import type { Timers } from './timers.js';

export interface OperationResource extends Json {
  kind: 'compute#operation';
  id: string;
  name: string;
  zone: string;
  operationType: string;
  targetLink: string;
  targetId: string;
  status: 'PENDING' | 'RUNNING' | 'DONE';
  user: string;
  progress: number;
  insertTime: string;
  startTime?: string;
  endTime?: string;
  selfLink: string;
  error?: { errors: Array<{ code: string; message: string; errorDetails?: unknown[] }> };
  httpErrorStatusCode?: number;
  httpErrorMessage?: string;
}

export interface StoredOperation {
  resource: OperationResource;
  zone: string;
  waiters: Set<() => void>;
  /** For hung operations: finishes them. */
  release: (() => void) | null;
}

/** The error a DONE operation carries, with the HTTP status the real API reports with it. */
export interface OpError extends OperationErrorSpec {
  httpStatus: number;
  httpMessage: string;
  errorDetails?: unknown[];
}

export interface OperationSteps {
  onRunning?: () => void;
  onDone: () => OpError | null;
  hang?: boolean;
  delayMs?: number;
}

const operationName = () => `operation-${Date.now()}-${randomBytes(6).toString('hex')}-${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}`;

export class ZoneOperations {
  private readonly operations = new Map<string, StoredOperation>();
  private readonly byRequestId = new Map<string, StoredOperation>();

  constructor(
    private readonly timers: Timers,
    private readonly waitTimeoutMs: number,
  ) {}

  /** The operation an earlier request with this id made, if any. */
  byRequest(requestId: string | null): StoredOperation | null {
    return requestId ? (this.byRequestId.get(requestId) ?? null) : null;
  }

  rememberRequest(requestId: string | null, op: StoredOperation): void {
    if (requestId) this.byRequestId.set(requestId, op);
  }

  create(project: string, zone: string, type: string, targetLink: string, targetId: string, requestId: string | null): StoredOperation {
    const name = operationName();
    const resource: OperationResource = {
      kind: 'compute#operation',
      id: numericId(),
      name,
      zone: `${API_BASE}/projects/${project}/zones/${zone}`,
      operationType: type,
      targetLink,
      targetId,
      status: 'PENDING',
      user: 'warmer@local.iam.gserviceaccount.com',
      progress: 0,
      insertTime: timestamp(Date.now()),
      selfLink: `${API_BASE}/projects/${project}/zones/${zone}/operations/${name}`,
    };
    const op: StoredOperation = { resource, zone, waiters: new Set(), release: null };
    this.operations.set(name, op);
    this.rememberRequest(requestId, op);
    return op;
  }

  run(op: StoredOperation, steps: OperationSteps, defaultDelayMs: number): void {
    const delay = steps.delayMs ?? defaultDelayMs;
    const finish = () => {
      if (op.resource.status === 'DONE') return;
      if (op.resource.status === 'PENDING') start();
      const error = steps.onDone();
      op.resource.status = 'DONE';
      op.resource.progress = 100;
      op.resource.endTime = timestamp(Date.now());
      if (error) {
        op.resource.error = { errors: [{ code: error.code, message: error.message, ...(error.errorDetails ? { errorDetails: error.errorDetails } : {}) }] };
        op.resource.httpErrorStatusCode = error.httpStatus;
        op.resource.httpErrorMessage = error.httpMessage;
      }
      for (const w of [...op.waiters]) w();
    };
    const start = () => {
      if (op.resource.status !== 'PENDING') return;
      op.resource.status = 'RUNNING';
      op.resource.startTime = timestamp(Date.now());
      op.resource.progress = 0;
      steps.onRunning?.();
    };
    this.timers.after(Math.min(10, delay / 4), start);
    if (steps.hang) {
      op.release = finish;
      return;
    }
    this.timers.after(delay, finish);
  }

  get(project: string, zone: string, name: string): OperationResource {
    const op = this.operations.get(name);
    if (!op || op.zone !== zone) throw apiNotFound(`projects/${project}/zones/${zone}/operations/${name}`);
    return op.resource;
  }

  /** Returns when the operation is DONE or after the wait timeout (like the real API's ~2 minutes). */
  async wait(project: string, zone: string, name: string): Promise<OperationResource> {
    const op = this.operations.get(name);
    if (!op || op.zone !== zone) throw apiNotFound(`projects/${project}/zones/${zone}/operations/${name}`);
    if (op.resource.status === 'DONE' || this.timers.isStopped) return op.resource;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        op.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.waitTimeoutMs);
      op.waiters.add(done);
    });
    return op.resource;
  }

  releaseHung(): number {
    let released = 0;
    for (const op of this.operations.values()) {
      if (op.release) {
        const release = op.release;
        op.release = null;
        release();
        released++;
      }
    }
    return released;
  }

  wakeAll(): void {
    for (const op of this.operations.values()) for (const w of [...op.waiters]) w();
  }
}
