/**
 * Compute Engine zone operations: waiting until one is DONE within a deadline (a hung
 * wait gives up with `transient`; a retryable failure of the wait itself is waited out),
 * and making sure the operation a requestId returned is the one asked for.
 */
import compute from '@google-cloud/compute';
import type { protos } from '@google-cloud/compute';
import { WarmerError } from '../errors.js';
import { lastSegment } from '../domain/resource-path.js';
import { toWarmerError } from './gce-errors.js';

type IOperation = protos.google.cloud.compute.v1.IOperation;
type ClientOptions = ConstructorParameters<typeof compute.ZoneOperationsClient>[0];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A requestId reused for another operation returns that operation: never mistake it for ours. */
export function checkOperationFor(op: IOperation, type: string, name: string, context: string): void {
  const target = op.targetLink ? lastSegment(op.targetLink) : name;
  if ((op.operationType && op.operationType !== type) || target !== name) {
    throw new WarmerError('operation_failed', `${context}: the requestId belongs to another operation (${op.operationType} ${target})`);
  }
}

export class ZoneOperations {
  private readonly zoneOperations: InstanceType<typeof compute.ZoneOperationsClient>;

  constructor(
    private readonly project: string,
    clientOptions: ClientOptions,
    /** Longest wait for one operation. */
    private readonly operationTimeoutMs: number,
  ) {
    this.zoneOperations = new compute.ZoneOperationsClient(clientOptions);
  }

  /** The operation once DONE (its `error` still to be read by the caller). */
  async waitDone(zone: string, initial: IOperation, context: string): Promise<IOperation> {
    let op = initial;
    const deadline = Date.now() + this.operationTimeoutMs;
    while (String(op.status) !== 'DONE') {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new WarmerError('transient', `${context}: operation ${op.name} not done after ${this.operationTimeoutMs} ms`, {
          details: { operation: op.name, status: op.status },
        });
      }
      if (!op.name) throw new WarmerError('operation_failed', `${context}: operation without a name`);
      let timer: NodeJS.Timeout | undefined;
      try {
        const waited = this.zoneOperations.wait({ project: this.project, zone, operation: op.name }, { timeout: Math.max(remaining, 1000) });
        const timeout = new Promise<null>((resolve) => {
          timer = setTimeout(() => resolve(null), remaining);
        });
        waited.catch(() => {});
        const result = await Promise.race([waited, timeout]);
        if (result) op = result[0];
      } catch (err) {
        const e = toWarmerError(err, `${context}: wait for ${op.name}`);
        if (!e.retryable) throw e;
        await sleep(200);
      } finally {
        clearTimeout(timer);
      }
    }
    return op;
  }

  async close(): Promise<void> {
    await this.zoneOperations.close();
  }
}
