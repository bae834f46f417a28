/**
 * The local stack as the tests start it: both test tokens and a memory logger (a test
 * that reads the logs passes its own), plus what the test itself depends on — boot and
 * operation delays, the schedule, its own loopback range (`addressBase`: each file uses
 * its own, so stacks of files running side by side never share an address).
 */
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../local/stack.js';
import { memoryLogger } from '../../shared/logging.js';

export const CLAIM_TOKEN = 'e2e-claim-token-0123456789';
export const ADMIN_TOKEN = 'e2e-admin-token-0123456789';

export type TestStackOptions = Omit<LocalStackOptions, 'claimTokens' | 'adminTokens' | 'addressBase'> &
  Partial<Pick<LocalStackOptions, 'claimTokens' | 'adminTokens'>> & { addressBase: string };

/**
 * Passes come from refill messages only: machines boot in about 1.5 s and the scheduler
 * (two minutes) never fires during a test.
 */
export const REFILL_DRIVEN = { bootDelayMs: 1500, bootJitterMs: 300, operationDelayMs: 100, scheduleMs: 120_000 } as const;

export function startTestStack(options: TestStackOptions): Promise<LocalStack> {
  return startLocalStack({ claimTokens: [CLAIM_TOKEN], adminTokens: [ADMIN_TOKEN], logger: memoryLogger(), ...options });
}
