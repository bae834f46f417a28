/** The answer to a replayed claim (the same principal and request id). */
import { WarmerError } from '../errors.js';
import type { InstanceRecord } from '../domain/instance.js';

/**
 * A replay answers only with machines that are still the claimer's: when any was
 * released or deleted since, 410 with their states (never 200 with a dead machine).
 */
export function assertReplayLive(instances: InstanceRecord[], count: number, requestId: string): void {
  if (instances.length === count && instances.every((i) => i.state === 'claimed')) return;
  throw new WarmerError('claim_gone', `the machines of request id "${requestId}" were released; claim again with a new request id`, {
    details: {
      requestId,
      instances: instances.map((i) => ({ name: i.name, state: i.state, reason: i.reason })),
      missing: Math.max(0, count - instances.length),
    },
  });
}
